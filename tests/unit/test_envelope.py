"""Reading a submitted instance: `parse_envelope` (identity, edits, refusals of unusable or
hostile XML) and `Envelope.attachment_names` (groups, repeats, namespaced roots, encrypted
envelopes). Pure: bytes in, facts out; no app, no database.
"""

from __future__ import annotations

import pytest

from server import problems
from server.openrosa.envelope import MAX_DEPTH, MAX_ELEMENTS, parse_envelope
from server.problems import ProblemError

ORX = "http://openrosa.org/xforms"


def doc(
    body: str = "",
    *,
    root: str = 'data id="f" version="3"',
    meta: str = "<meta><instanceID>uuid:1</instanceID></meta>",
) -> bytes:
    tag = root.split()[0]
    return f"<{root}>{body}{meta}</{tag}>".encode()


def refused(xml: bytes) -> problems.Problem:
    with pytest.raises(ProblemError) as caught:
        parse_envelope(xml)
    return caught.value.problem


# ---- identity -------------------------------------------------------------------------------
def test_reads_form_id_version_and_meta() -> None:
    """Form ID and version come from the root; instanceID, deprecatedID and name from meta."""
    envelope = parse_envelope(
        doc(
            meta=(
                "<meta><instanceID>uuid:2</instanceID><deprecatedID>uuid:1</deprecatedID>"
                "<instanceName>Budi - Malang</instanceName></meta>"
            )
        )
    )
    assert (envelope.form_id, envelope.version) == ("f", "3")
    assert (envelope.instance_id, envelope.deprecated_id) == ("uuid:2", "uuid:1")
    assert envelope.instance_name == "Budi - Malang"
    assert envelope.encrypted is False


def test_missing_version_and_optional_meta_are_empty() -> None:
    """No version attribute reads as "", no deprecatedID or instanceName as None."""
    envelope = parse_envelope(doc(root='data id="f"'))
    assert envelope.version == ""
    assert envelope.deprecated_id is None and envelope.instance_name is None


def test_values_are_trimmed() -> None:
    """Whitespace around the form ID, version and instanceID is ignored."""
    envelope = parse_envelope(
        doc(
            root='data id=" f " version=" 3 "',
            meta="<meta><instanceID>\n uuid:1 \n</instanceID></meta>",
        )
    )
    assert (envelope.form_id, envelope.version, envelope.instance_id) == ("f", "3", "uuid:1")


def test_meta_in_the_orx_namespace_is_found() -> None:
    """Collect may write <orx:meta><orx:instanceID>; the namespace does not matter."""
    envelope = parse_envelope(
        doc(
            root=f'data id="f" xmlns:orx="{ORX}"',
            meta="<orx:meta><orx:instanceID>uuid:9</orx:instanceID></orx:meta>",
        )
    )
    assert envelope.instance_id == "uuid:9"


def test_instance_id_attribute_on_the_root_is_accepted() -> None:
    """Without meta, an instanceID attribute on the root is used (older clients)."""
    envelope = parse_envelope(doc(root='data id="f" instanceID="uuid:5"', meta=""))
    assert envelope.instance_id == "uuid:5"


def test_namespaced_root_is_read() -> None:
    """A root in a default namespace still yields its form ID and meta."""
    envelope = parse_envelope(doc(root='data xmlns="http://example.org/x" id="f"'))
    assert (envelope.form_id, envelope.instance_id) == ("f", "uuid:1")


def test_long_instance_name_is_cut_to_500() -> None:
    """instanceName is cut to the 500 characters the database keeps."""
    envelope = parse_envelope(
        doc(
            meta="<meta><instanceID>uuid:1</instanceID>"
            f"<instanceName>{'n' * 900}</instanceName></meta>"
        )
    )
    assert envelope.instance_name == "n" * 500


def test_leaf_values_hold_every_leaf_text() -> None:
    """Leaf texts are kept (trimmed) to tell which uploaded parts the instance names."""
    envelope = parse_envelope(doc("<a> x.jpg </a><g><b>y.jpg</b></g><c/>"))
    assert {"x.jpg", "y.jpg", "uuid:1"} <= envelope.leaf_values


def test_comments_and_processing_instructions_are_harmless() -> None:
    """Comments and processing instructions anywhere do not disturb the reading."""
    envelope = parse_envelope(
        doc(
            "<!-- c --><?pi x?><a>1</a>",
            meta="<meta><!-- c --><instanceID>uuid:1</instanceID></meta>",
        )
    )
    assert envelope.instance_id == "uuid:1"
    assert envelope.attachment_names(["/data/a"]) == ["1"]


# ---- refusals -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "xml",
    [b"", b"<data", b"<a></b>", b"text", b"\xff\xfe\x00<", b"<data id='f'>&undefined;</data>"],
    ids=["empty", "unclosed", "mismatched", "text", "bad-bytes", "undefined-entity"],
)
def test_malformed_xml_is_refused(xml) -> None:
    """XML that does not parse is a 400 MALFORMED_XML."""
    assert refused(xml) is problems.MALFORMED_XML


@pytest.mark.parametrize("root", ["data", 'data id=""', 'data id="   "'])
def test_root_without_form_id_is_refused(root) -> None:
    """A root without a non-blank id attribute is a 400 MISSING_FORM_ID."""
    assert refused(doc(root=root)) is problems.MISSING_FORM_ID


@pytest.mark.parametrize(
    "meta",
    [
        "",
        "<meta/>",
        "<meta><instanceID/></meta>",
        "<meta><instanceID>  </instanceID></meta>",
        "<x><instanceID>uuid:1</instanceID></x>",
    ],
)
def test_missing_instance_id_is_refused(meta) -> None:
    """No usable meta/instanceID is a 400 MISSING_INSTANCE_ID."""
    assert refused(doc(meta=meta)) is problems.MISSING_INSTANCE_ID


def test_overlong_instance_id_is_refused() -> None:
    """An instanceID longer than 255 characters is refused."""
    xml = doc(meta=f"<meta><instanceID>uuid:{'a' * 300}</instanceID></meta>")
    assert refused(xml) is problems.MALFORMED_XML


def test_external_entity_is_refused() -> None:
    """XXE: a DOCTYPE with a SYSTEM entity is refused before anything is resolved."""
    xml = (
        b'<?xml version="1.0"?><!DOCTYPE data [<!ENTITY s SYSTEM "file:///etc/passwd">]>'
        b'<data id="f"><a>&s;</a><meta><instanceID>uuid:1</instanceID></meta></data>'
    )
    assert refused(xml) is problems.XML_DTD_FORBIDDEN


def test_doctype_in_utf16_is_refused() -> None:
    """A DOCTYPE hidden from a byte search by UTF-16 is refused after parsing."""
    xml = (
        '<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE data [<!ENTITY s "x">]>'
        '<data id="f"><a>&s;</a><meta><instanceID>uuid:1</instanceID></meta></data>'
    ).encode("utf-16")
    assert refused(xml) is problems.XML_DTD_FORBIDDEN


@pytest.mark.parametrize("encoding", ["utf-8", "utf-16"])
def test_billion_laughs_is_refused(encoding) -> None:
    """Nested internal entities are refused, not expanded."""
    entities = '<!ENTITY l0 "ha">' + "".join(
        f'<!ENTITY l{i} "{f"&l{i - 1};" * 10}">' for i in range(1, 10)
    )
    xml = (
        f'<?xml version="1.0" encoding="{encoding}"?><!DOCTYPE data [{entities}]>'
        '<data id="f"><a>&l9;</a><meta><instanceID>uuid:1</instanceID></meta></data>'
    ).encode(encoding)
    assert refused(xml) in {problems.XML_DTD_FORBIDDEN, problems.MALFORMED_XML}


def test_nesting_up_to_the_limit_is_accepted_and_beyond_refused() -> None:
    """MAX_DEPTH levels below the root are too deep; one less is fine."""

    def nested(levels: int) -> bytes:
        return doc("<g>" * levels + "v" + "</g>" * levels)

    parse_envelope(nested(MAX_DEPTH - 1))
    assert refused(nested(MAX_DEPTH)) is problems.MALFORMED_XML


def test_too_many_elements_are_refused() -> None:
    """More than MAX_ELEMENTS elements is refused."""
    assert refused(doc("<a/>" * MAX_ELEMENTS)) is problems.MALFORMED_XML


# ---- attachment names -----------------------------------------------------------------------
FOTO = ["/data/foto_depan", "/data/foto_samping"]


def test_top_level_binary_fields_in_document_order() -> None:
    """Values of binary fields come back in document order; other fields are ignored."""
    envelope = parse_envelope(
        doc("<nama>x.jpg</nama><foto_samping>b.jpg</foto_samping><foto_depan>a.jpg</foto_depan>")
    )
    assert envelope.attachment_names(FOTO) == ["b.jpg", "a.jpg"]


def test_empty_binary_fields_are_skipped() -> None:
    """A photo question left empty expects no file."""
    envelope = parse_envelope(doc("<foto_depan/><foto_samping>  </foto_samping>"))
    assert envelope.attachment_names(FOTO) == []


def test_no_binary_fields_expect_nothing() -> None:
    """A form without binary fields expects no files, whatever the values look like."""
    assert parse_envelope(doc("<foto_depan>a.jpg</foto_depan>")).attachment_names([]) == []


def test_binary_fields_inside_groups() -> None:
    """A binary field inside (nested) groups is found by its full path only."""
    envelope = parse_envelope(
        doc(
            "<rumah><luar><foto>a.jpg</foto></luar><foto>wrong-level.jpg</foto></rumah>"
            "<foto>top.jpg</foto>"
        )
    )
    assert envelope.attachment_names(["/data/rumah/luar/foto"]) == ["a.jpg"]


def test_binary_fields_inside_repeats_in_order_without_duplicates() -> None:
    """Every repeat instance contributes its file, in order, each name once."""
    envelope = parse_envelope(
        doc(
            "<art><foto>1.jpg</foto><ttd>s1.png</ttd></art>"
            "<art><foto>2.jpg</foto><ttd>s2.png</ttd></art>"
            "<art><foto>1.jpg</foto></art>"
            "<art><anak><foto>3.jpg</foto></anak></art>"
        )
    )
    names = envelope.attachment_names(["/data/art/foto", "/data/art/ttd", "/data/art/anak/foto"])
    assert names == ["1.jpg", "s1.png", "2.jpg", "s2.png", "3.jpg"]


def test_namespaced_root_and_prefixed_paths() -> None:
    """Namespaces on the instance and prefixes in the form's paths are ignored."""
    envelope = parse_envelope(
        doc("<grp><foto>a.jpg</foto></grp>", root='data xmlns="http://example.org/x" id="f"')
    )
    assert envelope.attachment_names(["/x:data/x:grp/x:foto"]) == ["a.jpg"]
    assert envelope.attachment_names(["/data/grp/foto"]) == ["a.jpg"]


ENCRYPTED_ROOT = (
    'data id="f" version="3" encrypted="yes" xmlns="http://www.opendatakit.org/xforms/encrypted"'
)
ENCRYPTED_META = f'<meta xmlns="{ORX}"><instanceID>uuid:1</instanceID></meta>'


def test_encrypted_envelope_expects_its_enc_files() -> None:
    """Encrypted: the encrypted XML file first, then every media/file, whatever the form."""
    envelope = parse_envelope(
        doc(
            "<base64EncryptedKey>a2V5</base64EncryptedKey>"
            "<media><file>a.jpg.enc</file></media><!-- c -->"
            "<media><file>b.jpg.enc</file></media>"
            "<encryptedXmlFile>submission.xml.enc</encryptedXmlFile>"
            "<base64EncryptedElementSignature>c2ln</base64EncryptedElementSignature>",
            root=ENCRYPTED_ROOT,
            meta=ENCRYPTED_META,
        )
    )
    assert envelope.encrypted is True
    assert envelope.instance_id == "uuid:1"
    assert envelope.attachment_names(["/data/foto"]) == [
        "submission.xml.enc",
        "a.jpg.enc",
        "b.jpg.enc",
    ]


def test_encrypted_envelope_needs_its_instance_id() -> None:
    """An encrypted envelope without meta/instanceID is refused."""
    xml = doc(
        "<encryptedXmlFile>submission.xml.enc</encryptedXmlFile>", root=ENCRYPTED_ROOT, meta=""
    )
    assert refused(xml) is problems.MISSING_INSTANCE_ID


def test_encrypted_attribute_is_case_insensitive() -> None:
    """encrypted="YES" counts as encrypted; any other value does not."""
    assert parse_envelope(doc(root='data id="f" encrypted="YES"')).encrypted is True
    assert parse_envelope(doc(root='data id="f" encrypted="no"')).encrypted is False
