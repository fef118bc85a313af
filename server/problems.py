"""Every error the server can answer, declared once with its status and messages.

Code raises `ProblemError(problems.X, name=value)`; the app turns it into an OpenRosa XML,
JSON or plain answer depending on where it was raised. Messages are in Bahasa Indonesia
first (enumerators read them on the phone) with an English twin for logs and the API.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Problem:
    """A declared error: stable code, HTTP status and a message in id and en."""

    code: str
    status: int
    id: str
    en: str


class ProblemError(Exception):
    """Raised to answer with a declared problem; `details` fill the message placeholders."""

    def __init__(self, problem: Problem, **details: Any) -> None:
        self.problem = problem
        self.details = details
        super().__init__(self.message("en"))

    def message(self, language: str = "id") -> str:
        template = self.problem.id if language == "id" else self.problem.en
        try:
            return template.format(**self.details)
        except (KeyError, IndexError, ValueError):
            return template

    @property
    def status(self) -> int:
        return self.problem.status


def megabytes(limit: int) -> str:
    """A byte limit as users read it: '100', '0.05'."""
    return f"{limit / 1_000_000:g}"


def _p(code: str, status: int, id_: str, en: str) -> Problem:
    return Problem(code=code, status=status, id=id_, en=en)


# 400: the request itself is wrong.
BAD_OPENROSA_VERSION = _p(
    "400.1",
    400,
    "Versi OpenRosa {version} tidak didukung; gunakan 1.0.",
    "OpenRosa version {version} is not supported; use 1.0.",
)
MISSING_XML_PART = _p(
    "400.2",
    400,
    "Kiriman tidak berisi berkas xml_submission_file.",
    "The request has no xml_submission_file part.",
)
MALFORMED_XML = _p(
    "400.3",
    400,
    "Isi XML kiriman rusak dan tidak dapat dibaca: {reason}",
    "The submission XML is malformed: {reason}",
)
XML_DTD_FORBIDDEN = _p(
    "400.4",
    400,
    "XML kiriman memuat DOCTYPE/entitas, yang tidak diizinkan.",
    "The submission XML contains a DOCTYPE or entities, which are not allowed.",
)
MISSING_FORM_ID = _p(
    "400.5",
    400,
    "XML kiriman tidak menyebut ID formulir (atribut id pada elemen akar).",
    "The submission XML has no form ID (id attribute on the root element).",
)
MISSING_INSTANCE_ID = _p(
    "400.6",
    400,
    "XML kiriman tidak memiliki meta/instanceID.",
    "The submission XML has no meta/instanceID.",
)
NOT_MULTIPART = _p(
    "400.7",
    400,
    "Kiriman harus berupa multipart/form-data.",
    "Submissions must be sent as multipart/form-data.",
)
BAD_FILE_NAME = _p(
    "400.8",
    400,
    "Nama berkas lampiran tidak sah: {name}",
    "Invalid attachment file name: {name}",
)
MALFORMED_REQUEST = _p(
    "400.9",
    400,
    "Permintaan tidak dapat dibaca: {reason}",
    "The request could not be read: {reason}",
)

# 401/403: who you are and what you may do.
AUTH_REQUIRED = _p(
    "401.1",
    401,
    "Silakan masuk dengan nama pengguna dan kata sandi.",
    "Authentication is required.",
)
AUTH_FAILED = _p(
    "401.2",
    401,
    "Nama pengguna atau kata sandi salah.",
    "Wrong username or password.",
)
BASIC_NEEDS_HTTPS = _p(
    "401.3",
    401,
    "Autentikasi Basic hanya diterima lewat https; gunakan Digest.",
    "Basic authentication is only accepted over https; use Digest.",
)
UNKNOWN_TOKEN = _p(
    "403.1",
    403,
    "Token perangkat tidak dikenal atau sudah dicabut. Minta kode QR baru ke koordinator.",
    "Unknown or revoked device token. Ask your supervisor for a new QR code.",
)
FORBIDDEN = _p(
    "403.2",
    403,
    "Anda tidak memiliki akses ke {what}.",
    "You do not have access to {what}.",
)
OUTSIDE_TEAM = _p(
    "403.3",
    403,
    "Koordinator hanya dapat memindahkan sasaran antar pencacah dalam timnya sendiri.",
    "A supervisor can only move targets between enumerators of their own team.",
)
CSRF_FAILED = _p(
    "403.4",
    403,
    "Formulir ini sudah kedaluwarsa atau tidak dikirim dari halaman Verivali. Muat ulang "
    "halaman lalu coba lagi.",
    "This form has expired or was not sent from a Verivali page. Reload the page and try again.",
)
READ_ONLY = _p(
    "403.5",
    403,
    "Peran {role} hanya dapat melihat, tidak dapat mengubah.",
    "The {role} role can look but not change anything.",
)

# 404: what you asked for does not exist (or is not yours to see).
NOT_FOUND = _p(
    "404.1",
    404,
    "Tidak ditemukan.",
    "Not found.",
)
FORM_NOT_FOUND = _p(
    "404.2",
    404,
    "Formulir {form_id} tidak ditemukan di server ini.",
    "Form {form_id} was not found on this server.",
)
FORM_VERSION_NOT_FOUND = _p(
    "404.3",
    404,
    "Versi {version} dari formulir {form_id} tidak ada di server. Perbarui formulir di HP.",
    "Version {version} of form {form_id} does not exist on the server. Update the form.",
)
DEPRECATED_NOT_FOUND = _p(
    "404.4",
    404,
    "Kiriman yang diedit ({deprecated_id}) tidak ditemukan di server.",
    "The submission being edited ({deprecated_id}) was not found on the server.",
)
PROJECT_NOT_FOUND = _p(
    "404.5",
    404,
    "Proyek {project_id} tidak ditemukan.",
    "Project {project_id} was not found.",
)
USER_NOT_FOUND = _p(
    "404.6",
    404,
    "Pengguna {username} tidak ditemukan.",
    "User {username} was not found.",
)
ATTACHMENT_NOT_FOUND = _p(
    "404.7",
    404,
    "Berkas {name} tidak ditemukan.",
    "File {name} was not found.",
)
TEAM_NOT_FOUND = _p(
    "404.8",
    404,
    "Tim {team} tidak ditemukan.",
    "Team {team} was not found.",
)
TARGET_LIST_NOT_FOUND = _p(
    "404.9",
    404,
    "Daftar sasaran {name} tidak ditemukan.",
    "Target list {name} was not found.",
)
TARGET_NOT_FOUND = _p(
    "404.10",
    404,
    "Sasaran {target} tidak ditemukan.",
    "Target {target} was not found.",
)
SUBMISSION_NOT_FOUND = _p(
    "404.11",
    404,
    "Kiriman {submission_id} tidak ditemukan.",
    "Submission {submission_id} was not found.",
)
METHOD_NOT_ALLOWED = _p(
    "405.1",
    405,
    "Metode ini tidak didukung untuk alamat ini.",
    "This method is not supported here.",
)

# 409: the request conflicts with what is already stored.
FORM_CLOSED = _p(
    "409.1",
    409,
    "Formulir {form_id} sudah ditutup dan tidak menerima kiriman.",
    "Form {form_id} is closed and no longer accepts submissions.",
)
INSTANCE_CONFLICT = _p(
    "409.2",
    409,
    "Kiriman dengan instanceID {instance_id} sudah ada dengan isi berbeda. "
    "Jika ini perbaikan, edit kiriman lama di HP lalu kirim ulang.",
    "A submission with instanceID {instance_id} already exists with different content. "
    "To correct it, edit the sent form on the phone and resend.",
)
SUBMISSION_DELETED = _p(
    "409.3",
    409,
    "Kiriman {instance_id} sudah dihapus di server.",
    "Submission {instance_id} was deleted on the server.",
)
DEPRECATED_STALE = _p(
    "409.4",
    409,
    "Edit ini dibuat dari versi lama kiriman {deprecated_id}; sudah ada versi yang lebih baru.",
    "This edit was made from an old version ({deprecated_id}); a newer version exists.",
)
FORM_ID_AMBIGUOUS = _p(
    "409.5",
    409,
    "ID formulir {form_id} ada di beberapa proyek; gunakan alamat server proyek.",
    "Form ID {form_id} exists in several projects; use the project's server URL.",
)
CONCURRENT_WRITE = _p(
    "409.6",
    409,
    "Kiriman yang sama sedang diproses. Coba kirim ulang sebentar lagi.",
    "The same submission is being processed. Try again shortly.",
)
FORM_VERSION_EXISTS = _p(
    "409.7",
    409,
    "Versi {version} formulir {form_id} sudah diterbitkan dengan isi berbeda. "
    "Naikkan nilai 'version' di lembar settings.",
    "Version {version} of form {form_id} was already published with other content. "
    "Increase 'version' in the settings sheet.",
)
FORM_ID_MISMATCH = _p(
    "409.8",
    409,
    "Berkas ini mendefinisikan formulir {got}, bukan {expected}.",
    "This file defines form {got}, not {expected}.",
)

# 413/415/422: what was sent cannot be accepted.
BLOCKED_APPROVAL = _p(
    "409.9",
    409,
    "Kiriman {submission_id} memiliki temuan BLOCK dan tidak dapat disetujui: perbaiki "
    "nilainya, kembalikan untuk kunjungan ulang, atau tolak.",
    "Submission {submission_id} has a BLOCK flag and cannot be approved: correct the value, "
    "return it for a revisit, or reject it.",
)
REVIEW_STATE_CHANGED = _p(
    "409.10",
    409,
    "Kiriman {submission_id} baru saja diubah orang lain (sekarang: {state}). Muat ulang "
    "halaman, lalu putuskan lagi.",
    "Submission {submission_id} was just changed by someone else (now: {state}). Reload the "
    "page, then decide again.",
)
LOGIN_THROTTLED = _p(
    "429.1",
    429,
    "Terlalu banyak percobaan masuk yang gagal. Coba lagi dalam {minutes} menit.",
    "Too many failed sign-in attempts. Try again in {minutes} minutes.",
)
TOO_LARGE = _p(
    "413.1",
    413,
    "Kiriman terlalu besar (batas {limit_mb} MB). Kurangi ukuran foto lalu kirim ulang.",
    "The submission is too large (limit {limit_mb} MB). Reduce photo sizes and resend.",
)
FORM_FILE_TOO_LARGE = _p(
    "413.2",
    413,
    "Berkas {name} terlalu besar (batas {limit_mb} MB per berkas).",
    "File {name} is too large (limit {limit_mb} MB per file).",
)
FORM_UPLOAD_TOO_LARGE = _p(
    "413.3",
    413,
    "Unggahan terlalu besar (batas {limit_mb} MB untuk formulir dan semua medianya).",
    "The upload is too large (limit {limit_mb} MB for the form and all its media).",
)
XLSFORM_INVALID = _p(
    "422.1",
    422,
    "Formulir tidak dapat dikonversi:\n{details}",
    "The form could not be converted:\n{details}",
)
XFORM_INVALID = _p(
    "422.2",
    422,
    "Formulir ditolak oleh pemeriksa JavaRosa (mesin ODK Collect):\n{details}",
    "The form was rejected by JavaRosa (the engine of ODK Collect):\n{details}",
)
UNSUPPORTED_FORM_FILE = _p(
    "415.1",
    415,
    "Jenis berkas {name} tidak didukung; gunakan .xlsx, .xls, .csv atau .md.",
    "File type of {name} is not supported; use .xlsx, .xls, .csv or .md.",
)
UNSAFE_ARCHIVE = _p(
    "422.3",
    422,
    "Berkas {name} ditolak: {reason}",
    "File {name} refused: {reason}",
)
INVALID_INPUT = _p(
    "422.4",
    422,
    "{field}: {reason}",
    "{field}: {reason}",
)
RULE_SETTINGS_INVALID = _p(
    "422.5",
    422,
    "Pengaturan aturan {name} tidak dapat dipakai:\n{details}",
    "The rule settings {name} cannot be used:\n{details}",
)
FORM_FILE_MISSING = _p(
    "422.6",
    422,
    "Pilih berkas XLSForm (.xlsx, .xls, .csv atau .md) untuk diunggah.",
    "Choose an XLSForm file (.xlsx, .xls, .csv or .md) to upload.",
)
EMPTY_FILE = _p(
    "422.7",
    422,
    "Berkas {name} kosong.",
    "File {name} is empty.",
)

# 5xx: our side; the client keeps its data and retries.
STORAGE_UNAVAILABLE = _p(
    "503.1",
    503,
    "Server sedang sibuk; data di HP aman. Coba kirim lagi beberapa saat lagi.",
    "The server is busy; data on the phone is safe. Try again in a moment.",
)
INTERNAL = _p(
    "500.1",
    500,
    "Terjadi kesalahan di server; data di HP aman. Laporkan ke admin.",
    "Something went wrong on the server; data on the phone is safe. Tell the admin.",
)
