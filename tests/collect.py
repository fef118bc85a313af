"""A client that behaves like ODK Collect towards an OpenRosa server.

It reproduces what Collect (open-rosa module, OkHttp + okhttp-digest) does and checks what
Collect checks, so a test that passes here passes on a phone:
- `?deviceID=collect:…` on every URL; Collect's headers, including its odd 12-hour Date;
- no credentials until a 401 with WWW-Authenticate; then Digest (qop=auth), re-used
  pre-emptively with the same nonce and a rising nc; stale=true renews the nonce silently;
  Basic only over https (over http Collect fails with a generic error);
- formList/manifest: 200, X-OpenRosa-Version, `text/xml`, the right namespace, and every
  <xform> complete (one incomplete entry makes Collect drop the whole list); md5 hashes of
  the exact bytes;
- submissions: HEAD first (must be 204; then X-OpenRosa-Accept-Content-Length and Location),
  POSTs split by that length or at 100 files, all but the last with *isIncomplete*=yes;
  success only on 201/202; the first <message> is what the enumerator sees;
- the "update available" logic from the form hashes.
Transports: WSGI (fast, in-process) or real HTTP (against `verivali serve`).
"""

from __future__ import annotations

import hashlib
import http.client
import os
import secrets
import time
import uuid
from dataclasses import dataclass, field
from typing import Protocol
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from lxml import etree

NS_FORMLIST = "http://openrosa.org/xforms/xformsList"
NS_MANIFEST = "http://openrosa.org/xforms/xformsManifest"
NS_RESPONSE = "http://openrosa.org/http/response"
DEFAULT_ACCEPT_LENGTH = 10_000_000
MAX_FILES_PER_POST = 100


class CollectError(AssertionError):
    """Something Collect would fail on (what the enumerator would see as an error)."""


@dataclass
class Answer:
    status: int
    headers: dict[str, list[str]]
    body: bytes

    def header(self, name: str) -> str | None:
        values = self.headers.get(name.lower())
        return values[0] if values else None

    def all(self, name: str) -> list[str]:
        return self.headers.get(name.lower(), [])

    def message(self) -> str | None:
        """The first <message> of an OpenRosaResponse, as Collect shows it."""
        try:
            root = etree.fromstring(self.body)
        except etree.XMLSyntaxError:
            return None
        found = root.find(f".//{{{NS_RESPONSE}}}message")
        return found.text if found is not None else None


class Transport(Protocol):
    def request(self, method: str, url: str, headers: dict[str, str], body: bytes) -> Answer: ...


class WsgiTransport:
    """Sends requests straight into a Flask app."""

    def __init__(self, app) -> None:  # type: ignore[no-untyped-def]
        self.client = app.test_client()

    def request(self, method: str, url: str, headers: dict[str, str], body: bytes) -> Answer:
        parts = urlsplit(url)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        response = self.client.open(
            path,
            method=method,
            headers=headers,
            data=body,
            base_url=f"{parts.scheme}://{parts.netloc}",
        )
        collected: dict[str, list[str]] = {}
        for key, value in response.headers.items():
            collected.setdefault(key.lower(), []).append(value)
        data = response.get_data()
        response.close()
        return Answer(response.status_code, collected, data)


class HttpTransport:
    """Sends requests over real sockets (one keep-alive connection per client)."""

    def __init__(self, timeout: float = 60.0) -> None:
        self.timeout = timeout
        self._conns: dict[str, http.client.HTTPConnection] = {}

    def request(self, method: str, url: str, headers: dict[str, str], body: bytes) -> Answer:
        parts = urlsplit(url)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        for attempt in range(2):
            conn = self._conns.get(parts.netloc)
            if conn is None:
                conn = http.client.HTTPConnection(parts.netloc, timeout=self.timeout)
                self._conns[parts.netloc] = conn
            try:
                conn.request(method, path, body=body or None, headers=headers)
                response = conn.getresponse()
                data = response.read()
            except (http.client.HTTPException, ConnectionError, OSError):
                conn.close()
                self._conns.pop(parts.netloc, None)
                if attempt:
                    raise
                continue
            collected: dict[str, list[str]] = {}
            for key, value in response.getheaders():
                collected.setdefault(key.lower(), []).append(value)
            if (response.getheader("Connection") or "").lower() == "close":
                conn.close()
                self._conns.pop(parts.netloc, None)
            return Answer(response.status, collected, data)
        raise AssertionError("unreachable")

    def close(self) -> None:
        for conn in self._conns.values():
            conn.close()
        self._conns.clear()


def _md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def _collect_date() -> str:
    # Collect formats Date as "EEE, dd MMM yyyy hh:mm:ss zz": 12-hour clock, no AM/PM.
    return time.strftime("%a, %d %b %Y %I:%M:%S GMT", time.gmtime())


@dataclass
class ServerForm:
    form_id: str
    name: str
    version: str
    hash: str
    download_url: str
    manifest_url: str | None


@dataclass
class LocalForm:
    """A form as stored on the phone: its XML hash, version and media hashes."""

    form_id: str
    version: str
    md5: str
    xml: bytes
    media: dict[str, str] = field(default_factory=dict)  # name -> md5
    media_bytes: dict[str, bytes] = field(default_factory=dict)


@dataclass
class Upload:
    """Result of sending one filled form (possibly several POSTs)."""

    answers: list[Answer]

    @property
    def last(self) -> Answer:
        return self.answers[-1]

    @property
    def status(self) -> int:
        return self.last.status

    def message(self) -> str | None:
        return self.last.message()


class CollectClient:
    """One phone running ODK Collect, configured with a server URL (and maybe a password)."""

    def __init__(
        self,
        transport: Transport,
        server_url: str,
        username: str | None = None,
        password: str | None = None,
        device_id: str | None = None,
    ) -> None:
        self.transport = transport
        self.server_url = server_url.rstrip("/")
        self.username = username
        self.password = password
        self.device_id = device_id or "collect:" + secrets.token_hex(8)[:16]
        self.forms: dict[str, LocalForm] = {}
        self.challenges = 0  # 401s answered (Collect asks for a password only on the first)
        self._digest: dict[str, str] | None = None
        self._nc = 0

    # ---- HTTP with Collect's authentication behaviour -----------------------------------
    def _url(self, url: str) -> str:
        parts = urlsplit(url)
        query = [(k, v) for k, v in parse_qsl(parts.query) if k != "deviceID"]
        query.append(("deviceID", self.device_id))
        return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query), ""))

    def _headers(self) -> dict[str, str]:
        return {
            "User-Agent": "org.odk.collect.android/v2024.3.1 Dalvik/2.1.0 (Linux; U; Android 13)",
            "X-OpenRosa-Version": "1.0",
            "Accept-Encoding": "gzip",
            "Date": _collect_date(),
        }

    def _authorization(self, method: str, url: str) -> str | None:
        if self._digest is None or self.username is None:
            return None
        self._nc += 1
        parts = urlsplit(url)
        uri = parts.path + (f"?{parts.query}" if parts.query else "")
        realm, nonce = self._digest["realm"], self._digest["nonce"]
        nc = f"{self._nc:08x}"
        cnonce = secrets.token_hex(8)
        ha1 = _md5(f"{self.username}:{realm}:{self.password}".encode())
        ha2 = _md5(f"{method}:{uri}".encode())
        response = _md5(f"{ha1}:{nonce}:{nc}:{cnonce}:auth:{ha2}".encode())
        fields = {
            "username": self.username,
            "realm": realm,
            "nonce": nonce,
            "uri": uri,
            "response": response,
            "qop": "auth",
            "nc": nc,
            "cnonce": cnonce,
            "algorithm": "MD5",
        }
        if "opaque" in self._digest:
            fields["opaque"] = self._digest["opaque"]
        unquoted = {"qop", "nc", "algorithm"}
        return "Digest " + ", ".join(
            f"{k}={v}" if k in unquoted else f'{k}="{v}"' for k, v in fields.items()
        )

    def send(
        self, method: str, url: str, body: bytes = b"", extra_headers: dict[str, str] | None = None
    ) -> Answer:
        """One logical request, answering auth challenges as Collect does."""
        url = self._url(url)
        for _attempt in range(3):
            headers = self._headers() | (extra_headers or {})
            authorization = self._authorization(method, url)
            if authorization:
                headers["Authorization"] = authorization
            answer = self.transport.request(method, url, headers, body)
            if answer.status != 401:
                return answer
            challenges = answer.all("WWW-Authenticate")
            if not challenges:
                raise CollectError("401 without WWW-Authenticate: Collect shows a generic error")
            digest = next((c for c in challenges if c.lower().startswith("digest")), None)
            if self.username is None:
                return answer  # Collect would prompt for credentials here
            if digest is None:
                if urlsplit(url).scheme != "https":
                    raise CollectError("only Basic offered over http: Collect cannot log in")
                raise CollectError("Basic-only servers are out of scope for this client")
            params = _parse_challenge(digest[len("Digest") :])
            stale = params.get("stale", "").lower() == "true"
            if self._digest is not None and not stale:
                return answer  # credentials were rejected: Collect asks the user again
            self._digest = params
            self._nc = 0
            self.challenges += 1
        return answer

    # ---- Form list, forms, manifests ------------------------------------------------------
    def form_list(self) -> list[ServerForm]:
        answer = self.send("GET", f"{self.server_url}/formList")
        _check_openrosa_xml(answer, "formList")
        root = etree.fromstring(answer.body)
        if root.tag != f"{{{NS_FORMLIST}}}xforms":
            raise CollectError(f"formList root is {root.tag}, not xforms in {NS_FORMLIST}")
        forms = []
        for xform in root.findall(f"{{{NS_FORMLIST}}}xform"):

            def text(name: str, element: etree._Element = xform) -> str | None:
                found = element.find(f"{{{NS_FORMLIST}}}{name}")
                return None if found is None else (found.text or "")

            entry = ServerForm(
                form_id=text("formID") or "",
                name=text("name") or "",
                version=text("version") or "",
                hash=text("hash") or "",
                download_url=text("downloadUrl") or "",
                manifest_url=text("manifestUrl"),
            )
            if not (entry.form_id and entry.name and entry.download_url):
                raise CollectError(
                    "an <xform> lacks formID/name/downloadUrl: Collect drops the whole list"
                )
            if not entry.hash.startswith("md5:"):
                raise CollectError(f"form {entry.form_id} has no md5: hash")
            forms.append(entry)
        return forms

    def download(self, entry: ServerForm) -> LocalForm:
        """Download a form and its media as Collect does, checking every hash."""
        answer = self.send("GET", entry.download_url)
        if answer.status != 200:
            raise CollectError(f"form download answered {answer.status}")
        if _md5(answer.body) != entry.hash[4:]:
            raise CollectError("downloaded form does not match the formList hash")
        local = LocalForm(entry.form_id, entry.version, entry.hash[4:], answer.body)
        if entry.manifest_url:
            for name, md5, url in self.manifest(entry.manifest_url):
                media = self.send("GET", url)
                if media.status != 200:
                    raise CollectError(f"media {name} answered {media.status}")
                if _md5(media.body) != md5:
                    raise CollectError(f"media {name} does not match its manifest hash")
                local.media[name] = md5
                local.media_bytes[name] = media.body
        self.forms[entry.form_id] = local
        return local

    def manifest(self, url: str) -> list[tuple[str, str, str]]:
        answer = self.send("GET", url)
        _check_openrosa_xml(answer, "manifest")
        root = etree.fromstring(answer.body)
        if root.tag != f"{{{NS_MANIFEST}}}manifest":
            raise CollectError(f"manifest root is {root.tag}")
        files = []
        for media in root.findall(f"{{{NS_MANIFEST}}}mediaFile"):
            name = media.findtext(f"{{{NS_MANIFEST}}}filename") or ""
            md5 = media.findtext(f"{{{NS_MANIFEST}}}hash") or ""
            url = media.findtext(f"{{{NS_MANIFEST}}}downloadUrl") or ""
            if not (name and md5 and url):
                raise CollectError("incomplete <mediaFile>")
            files.append((name, md5[4:], url))  # Collect strips 4 characters blindly
        return files

    def download_all(self) -> list[LocalForm]:
        return [self.download(entry) for entry in self.form_list()]

    def updates(self) -> dict[str, str]:
        """Collect's "update available" decision per server form.

        'new', 'up to date', 'updated media', 'updated hash' (same version, other bytes)
        or 'updated version'.
        """
        result = {}
        for entry in self.form_list():
            local = self.forms.get(entry.form_id)
            if local is None:
                result[entry.form_id] = "new"
            elif local.md5 == entry.hash[4:]:
                result[entry.form_id] = "up to date"
                if entry.manifest_url:
                    remote = {n: h for n, h, _ in self.manifest(entry.manifest_url)}
                    if remote != local.media:
                        result[entry.form_id] = "updated media"
            elif local.version == entry.version:
                result[entry.form_id] = "updated hash"
            else:
                result[entry.form_id] = "updated version"
        return result

    # ---- Submissions ----------------------------------------------------------------------
    def submission_url(self) -> str:
        return f"{self.server_url}/submission"

    def head(self) -> Answer:
        return self.send("HEAD", self.submission_url())

    def submit(
        self, xml: bytes, files: dict[str, bytes] | None = None, instance_file: str = "instance.xml"
    ) -> Upload:
        """Send one finalised form: HEAD, then as many POSTs as the accepted length needs."""
        files = files or {}
        head = self.head()
        if head.status != 204:
            raise CollectError(f"HEAD answered {head.status}, Collect needs 204")
        accept = int(head.header("X-OpenRosa-Accept-Content-Length") or DEFAULT_ACCEPT_LENGTH)
        target = head.header("Location") or self.submission_url()
        if urlsplit(target).netloc != urlsplit(self.submission_url()).netloc:
            target = self.submission_url()  # Collect ignores a Location on another host
        names = list(files)
        answers = []
        index = 0
        while True:
            batch: list[str] = []
            byte_count = len(xml)
            while index < len(names):
                size = len(files[names[index]])
                if batch and (byte_count + size > accept or len(batch) >= MAX_FILES_PER_POST):
                    break
                batch.append(names[index])
                byte_count += size
                index += 1
            incomplete = index < len(names)
            body, content_type = multipart(
                xml, {n: files[n] for n in batch}, instance_file, incomplete
            )
            answer = self.send("POST", target, body, {"Content-Type": content_type})
            answers.append(answer)
            if answer.status not in (201, 202):
                raise CollectError(f"POST answered {answer.status}: {answer.message()}")
            if not incomplete:
                return Upload(answers)


def multipart(
    xml: bytes,
    files: dict[str, bytes],
    instance_file: str = "instance.xml",
    incomplete: bool = False,
) -> tuple[bytes, str]:
    """A multipart body as Collect builds it."""
    boundary = uuid.uuid4().hex
    chunks: list[bytes] = []

    def part(headers: list[str], data: bytes) -> None:
        chunks.append(f"--{boundary}\r\n".encode())
        chunks.append(("\r\n".join(headers) + "\r\n\r\n").encode())
        chunks.append(data)
        chunks.append(b"\r\n")

    part(
        [
            f'Content-Disposition: form-data; name="xml_submission_file"; '
            f'filename="{instance_file}"',
            "Content-Type: text/xml",
        ],
        xml,
    )
    for name, data in files.items():
        part(
            [
                f'Content-Disposition: form-data; name="{name}"; filename="{name}"',
                f"Content-Type: {_guess_type(name)}",
            ],
            data,
        )
    if incomplete:
        part(['Content-Disposition: form-data; name="*isIncomplete*"'], b"yes")
    chunks.append(f"--{boundary}--\r\n".encode())
    return b"".join(chunks), f"multipart/form-data; boundary={boundary}"


def _guess_type(name: str) -> str:
    lowered = name.lower()
    if lowered.endswith((".jpg", ".jpeg")):
        return "image/jpeg"
    if lowered.endswith(".png"):
        return "image/png"
    if lowered.endswith(".enc"):
        return "application/octet-stream"
    return "application/octet-stream"


def _parse_challenge(value: str) -> dict[str, str]:
    import re

    return {k.lower(): v.strip('"') for k, v in re.findall(r'([a-zA-Z]+)=("[^"]*"|[^,\s]+)', value)}


def _check_openrosa_xml(answer: Answer, what: str) -> None:
    if answer.status != 200:
        raise CollectError(f"{what} answered {answer.status}: {answer.message()}")
    if answer.header("X-OpenRosa-Version") != "1.0":
        raise CollectError(f"{what} lacks X-OpenRosa-Version: 1.0")
    if "text/xml" not in (answer.header("Content-Type") or ""):
        raise CollectError(f"{what} Content-Type is not text/xml: Collect suspects a proxy")


def instance_xml(
    form_id: str = "kunjungan_rumah",
    version: str = "2026112301",
    instance_id: str | None = None,
    deprecated_id: str | None = None,
    photos: tuple[str, ...] = ("depan.jpg", "samping.jpg", "belakang.jpg"),
    nama: str = "Budi Santoso",
    extra: str = "",
) -> bytes:
    """A filled house-visit instance like Collect serialises it."""
    instance_id = instance_id or f"uuid:{uuid.uuid4()}"
    deprecated = f"<deprecatedID>{deprecated_id}</deprecatedID>" if deprecated_id else ""
    depan, samping, belakang = (list(photos) + ["", "", ""])[:3]
    return (
        f"<?xml version='1.0' encoding='UTF-8' ?><data id=\"{form_id}\" version=\"{version}\" "
        'xmlns:jr="http://openrosa.org/javarosa" xmlns:orx="http://openrosa.org/xforms">'
        "<start>2026-11-23T08:00:00.000+07:00</start><end>2026-11-23T08:20:00.000+07:00</end>"
        f"<deviceid>collect:abc</deviceid><desa>3573041003</desa><nama_krt>{nama}</nama_krt>"
        "<nik_krt>3573044506850001</nik_krt><hasil>ditemukan</hasil><jumlah_art>4</jumlah_art>"
        f"<foto_depan>{depan}</foto_depan><foto_samping>{samping}</foto_samping>"
        f"<foto_belakang>{belakang}</foto_belakang><lokasi>-7.98 112.62 450 5</lokasi>"
        f"<catatan>{extra}</catatan>"
        f"<meta><instanceID>{instance_id}</instanceID>{deprecated}"
        f"<instanceName>{nama}</instanceName></meta></data>"
    ).encode()


def photo(size: int = 1000, seed: bytes | None = None) -> bytes:
    """Fake JPEG bytes of a given size (unique unless a seed is given)."""
    seed = seed if seed is not None else os.urandom(16)
    body = (hashlib.sha256(seed).digest() * (size // 32 + 1))[: max(size - 4, 0)]
    return b"\xff\xd8\xff\xe0" + body
