"""Question, group and choice labels of a published XForm, and a submission rendered with them.

Owns turning a form definition (as pyxform writes it: itext translations, choices in
secondary instances or inline items) into labels by language code, and turning one
submission instance into sections, answers and repeat tables a supervisor can read.
Pure functions over XML bytes: no Flask, no database, no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from lxml import etree

from server.forms.xform import XF, H, XFormError, safe_parser

_ITEXT = re.compile(r"""^\s*jr:itext\(\s*['"](.+?)['"]\s*\)\s*$""")
_ITEXT_FIELD = re.compile(r"^\s*jr:itext\(\s*([\w.-]+)\s*\)\s*$")
_INSTANCE = re.compile(r"""instance\(\s*['"]([^'"]+)['"]\s*\)""")
_LANG_CODE = re.compile(r"\(\s*([A-Za-z]{2,3}(?:[-_][A-Za-z0-9]+)?)\s*\)\s*$")
_SIMPLE_PATH = re.compile(r"[\w./:-]+")
_LANG_ALIASES = {"default": "id", "english": "en", "indonesian": "id", "bahasa indonesia": "id"}
# Bind types and body controls -> XLSForm-like kinds; other bind types keep their own name.
_KINDS = dict(string="text", int="integer", select1="select_one", select="select_multiple")
_FILE_KINDS = frozenset({"image", "audio", "video", "binary"})
_MULTI_KINDS = frozenset({"select_multiple", "rank"})
_SKIP_BODY = frozenset({"label", "hint", "itemset", "item", "value", "help"})


@dataclass(frozen=True)
class Question:
    """One leaf of the form: its kind, labels by language and choice labels."""

    path: str
    kind: str
    labels: Mapping[str, str]
    choices: Mapping[str, Mapping[str, str]]


@dataclass(frozen=True)
class FormLabels:
    """Everything needed to label a submission of one form version."""

    languages: tuple[str, ...]
    questions: Mapping[str, Question]
    groups: Mapping[str, Mapping[str, str]]
    repeats: frozenset[str]


@dataclass(frozen=True)
class Answer:
    """One answered question, labelled and with its value as a person reads it."""

    path: str
    label: str
    value: str
    shown: str
    kind: str
    attachment: str | None


@dataclass(frozen=True)
class RepeatTable:
    """All instances of one repeat group: a row each, columns aligned across rows."""

    path: str
    label: str
    columns: tuple[tuple[str, str], ...]
    rows: tuple[tuple[Answer | None, ...], ...]


@dataclass(frozen=True)
class Section:
    """The answers and repeat tables directly inside one group ("" for the top level)."""

    path: str
    label: str
    answers: tuple[Answer, ...]
    tables: tuple[RepeatTable, ...]


def language_code(name: str) -> str:
    """The code of an itext language: "English (en)" -> "en", "default" -> "id"."""
    match = _LANG_CODE.search(name)
    if match:
        return match.group(1).lower()
    lowered = name.strip().lower()
    return _LANG_ALIASES.get(lowered, lowered)


def _local(el: etree._Element) -> str:
    return etree.QName(el).localname


def _elements(el: etree._Element) -> list[etree._Element]:
    return [child for child in el if isinstance(child.tag, str)]


def _ref_name(expr: str) -> str:
    text = expr.strip()
    return text.rstrip("/").split("/")[-1] if _SIMPLE_PATH.fullmatch(text) else text


def _text(el: etree._Element) -> str:
    """Mixed content as text, with each <output value="/x/y"/> written as ${y}."""
    parts = [el.text or ""]
    for child in el:
        if isinstance(child.tag, str) and _local(child) == "output":
            parts.append("${" + _ref_name(child.get("value") or child.get("ref") or "") + "}")
        elif isinstance(child.tag, str):
            parts.append("".join(child.itertext()))
        parts.append(child.tail or "")
    return "".join(parts).strip()


def _read_itext(model: etree._Element) -> tuple[tuple[str, ...], dict[str, dict[str, str]]]:
    """Language codes in form order, and text id -> text for each of them."""
    texts: dict[str, dict[str, str]] = {}
    for translation in model.iterfind(f"{{{XF}}}itext/{{{XF}}}translation"):
        name = translation.get("lang") or "default"
        table = texts.setdefault(language_code(name), {})
        for text in translation.iterfind(f"{{{XF}}}text"):
            forms = {v.get("form"): v for v in reversed(text.findall(f"{{{XF}}}value"))}
            value = forms.get(None, forms.get("long", forms.get("short")))
            text_id = text.get("id") or ""
            # A "default" translation (the plain label column) never hides an explicit one.
            if value is not None and (name.lower() != "default" or text_id not in table):
                table[text_id] = _text(value)
    return (tuple(texts) or ("id",)), texts


def _resolve(ref: str, context: str) -> str:
    """A body or bind reference as a path below the instance root."""
    ref = ref.strip()
    if ref.startswith("/"):
        return "/".join(ref.strip("/").split("/")[1:])
    return "/".join(p for p in (context, ref.removeprefix("./")) if p)


class _Reader:
    """State while reading one form definition."""

    def __init__(self, model: etree._Element) -> None:
        self.languages, self.itext = _read_itext(model)
        self.secondary = {i.get("id"): i for i in model.iterfind(f"{{{XF}}}instance")}
        self.groups: dict[str, dict[str, str]] = {}
        self.repeats: set[str] = set()
        self.controls: dict[str, etree._Element] = {}

    def texts(self, text_id: str) -> dict[str, str]:
        """The itext `text_id` by language, leaving out languages that lack it."""
        return {lang: t for lang in self.languages if (t := self.itext.get(lang, {}).get(text_id))}

    def plain(self, text: str) -> dict[str, str]:
        """One untranslated text, used for every language."""
        return dict.fromkeys(self.languages, text) if text else {}

    def label(self, el: etree._Element | None) -> dict[str, str]:
        """Labels by language of a <label> element (itext reference or inline text)."""
        if el is None:
            return {}
        match = _ITEXT.match(el.get("ref") or "")
        return self.texts(match.group(1)) if match else self.plain(_text(el))

    def walk_body(self, el: etree._Element, context: str) -> None:
        """Record group labels, repeats and the control of each question, by path."""
        for child in _elements(el):
            tag, ref = _local(child), child.get("ref") or child.get("nodeset")
            path = _resolve(ref, context) if ref else context
            if tag in _SKIP_BODY:
                continue
            if ref and tag in ("group", "repeat"):
                self.groups.setdefault(path, {}).update(self.label(child.find(f"{{{XF}}}label")))
                if tag == "repeat":
                    self.repeats.add(path)
            elif ref:
                self.controls[path] = child
                continue
            self.walk_body(child, path)

    def choices(self, control: etree._Element) -> dict[str, dict[str, str]]:
        """Choice value -> labels by language, from inline items or an itemset."""
        found = {
            (item.findtext(f"{{{XF}}}value") or "").strip(): self.label(item.find(f"{{{XF}}}label"))
            for item in control.iterfind(f"{{{XF}}}item")
        }
        itemset = control.find(f"{{{XF}}}itemset")
        match = _INSTANCE.search(itemset.get("nodeset") or "") if itemset is not None else None
        source = self.secondary.get(match.group(1)) if match else None
        if itemset is None or source is None:  # no itemset, or choices from an external file
            return found
        value_ref = next((v.get("ref") for v in itemset.iterfind(f"{{{XF}}}value")), "name")
        label_ref = next((v.get("ref") for v in itemset.iterfind(f"{{{XF}}}label")), "label")
        field = _ITEXT_FIELD.match(label_ref or "")
        for item in source.iter(f"{{{XF}}}item"):
            value = (item.findtext(f"{{{XF}}}{value_ref}") or "").strip()
            if field:
                found[value] = self.texts(item.findtext(f"{{{XF}}}{field.group(1)}") or "")
            else:
                found[value] = self.plain((item.findtext(f"{{{XF}}}{label_ref}") or "").strip())
        return found

    def question(self, path: str, bind: etree._Element | None) -> Question:
        control = self.controls.get(path)
        attrs = {
            etree.QName(k).localname: v
            for k, v in (bind.attrib if bind is not None else {}).items()
        }
        bind_type = str(attrs.get("type") or "string").split(":")[-1]
        kind = _KINDS.get(bind_type, bind_type)
        tag = _local(control) if control is not None else ""
        if tag in _KINDS:
            kind = _KINDS[tag]
        elif tag == "upload":
            media = (control.get("mediatype") or "").split("/")[0] if control is not None else ""
            kind = media if media in _FILE_KINDS else "binary"
        elif tag == "trigger":
            kind = "acknowledge"
        elif not tag and (path.split("/")[0] == "meta" or "preload" in attrs):
            kind = "meta"
        elif attrs.get("calculate"):
            kind = "calculate"
        elif tag == "input" and str(attrs.get("readonly", "")).startswith("true"):
            kind = "note"
        if control is None:
            return Question(path=path, kind=kind, labels={}, choices={})
        labels = self.label(control.find(f"{{{XF}}}label"))
        return Question(path=path, kind=kind, labels=labels, choices=self.choices(control))


def read_labels(xform: bytes) -> FormLabels:
    """Labels of every question, group and choice of an XForm, by language code."""
    try:
        root = etree.fromstring(xform, safe_parser())
    except etree.XMLSyntaxError as exc:
        raise XFormError(f"not well-formed XML: {exc}") from None
    model = root.find(f"{{{H}}}head/{{{XF}}}model")
    primary = model.find(f"{{{XF}}}instance") if model is not None else None
    data = _elements(primary)[0] if primary is not None and _elements(primary) else None
    if model is None or data is None:
        raise XFormError("no <model> with a primary <instance>")
    reader = _Reader(model)
    body = root.find(f"{{{H}}}body")
    if body is not None:
        reader.walk_body(body, "")
    binds = {
        _resolve(b.get("nodeset", ""), ""): b
        for b in model.iterfind(f"{{{XF}}}bind")
        if b.get("nodeset")
    }
    questions: dict[str, Question] = {}
    stack = [(child, "") for child in reversed(_elements(data))]
    while stack:
        node, prefix = stack.pop()
        path = f"{prefix}/{_local(node)}".lstrip("/")
        children = _elements(node)
        if children:
            stack.extend((child, path) for child in reversed(children))
        elif path not in questions:
            questions[path] = reader.question(path, binds.get(path))
    return FormLabels(
        languages=reader.languages,
        questions=questions,
        groups=reader.groups,
        repeats=frozenset(reader.repeats),
    )


_Cells = dict[str, Answer]
_Rows = dict[str, list[etree._Element]]


class _Renderer:
    """State while rendering one instance."""

    def __init__(self, labels: FormLabels, language: str) -> None:
        self.labels, self.language = labels, language
        self.order = {path: index for index, path in enumerate(labels.questions)}
        self.sections: dict[str, tuple[str, list[Answer], list[RepeatTable]]] = {}

    def pick(self, texts: Mapping[str, str], name: str) -> str:
        """The text in the asked language, else in another language, else `name`."""
        order = (self.language, *self.labels.languages, *texts)
        return next((texts[lang] for lang in order if texts.get(lang)), name)

    def section(self, path: str) -> tuple[str, list[Answer], list[RepeatTable]]:
        if path not in self.sections:
            name = path.rsplit("/", 1)[-1]
            self.sections[path] = (self.pick(self.labels.groups.get(path, {}), name), [], [])
        return self.sections[path]

    def answer(self, path: str, el: etree._Element) -> Answer | None:
        value = el.text or ""
        question = self.labels.questions.get(path)
        kind = question.kind if question else "text"
        if not value.strip() or kind == "note":
            return None
        name = path.rsplit("/", 1)[-1]
        label = self.pick(question.labels, name) if question else name
        shown = value
        if question and question.choices:
            picked = value.split() if kind in _MULTI_KINDS else [value.strip()]
            shown = ", ".join(self.pick(question.choices.get(v, {}), v) for v in picked)
        attachment = value.strip() if kind in _FILE_KINDS else None
        return Answer(path, label, value, shown, kind, attachment)

    def is_repeat(self, path: str, el: etree._Element, siblings: list[etree._Element]) -> bool:
        """A repeat of the form, or an unknown element with children that occurs twice."""
        if path in self.labels.repeats:
            return True
        same = [s for s in siblings if _local(s) == _local(el)]
        return len(same) > 1 and bool(_elements(el)) and path not in self.labels.groups

    def walk(self, el: etree._Element, prefix: str, section: str, skip: frozenset[str]) -> None:
        """Answers into the section of their group; a repeat's instances into one table."""
        children, done = _elements(el), set()
        for child in children:
            name = _local(child)
            path = f"{prefix}/{name}".lstrip("/")
            if (not prefix and name in skip) or name in done:
                continue
            if self.is_repeat(path, child, children):
                done.add(name)
                rows = [c for c in children if _local(c) == name]
                self.section(section)[2].extend(self.tables(path, rows))
            elif _elements(child):
                self.section(path)
                self.walk(child, path, path, skip)
            elif (answer := self.answer(path, child)) is not None:
                self.section(section)[1].append(answer)

    def flatten(self, el: etree._Element, prefix: str, cells: _Cells, nested: _Rows) -> None:
        """One repeat instance's answers by path (groups flattened); inner repeats aside."""
        children = _elements(el)
        for child in children:
            path = f"{prefix}/{_local(child)}"
            if self.is_repeat(path, child, children):
                nested.setdefault(path, []).append(child)
            elif _elements(child):
                self.flatten(child, path, cells, nested)
            elif (answer := self.answer(path, child)) is not None:
                cells.setdefault(path, answer)

    def tables(self, path: str, instances: list[etree._Element]) -> list[RepeatTable]:
        """The table of one repeat, then those of repeats nested in it (rows of all parents)."""
        rows: list[dict[str, Answer]] = []
        nested: _Rows = {}
        for instance in instances:
            cells: dict[str, Answer] = {}
            self.flatten(instance, path, cells, nested)
            rows.append(cells)
        seen = {p: a.label for row in rows for p, a in row.items()}
        unknown = len(self.order)
        paths = sorted(seen, key=lambda p: self.order.get(p, unknown))
        found = []
        if paths:
            label = self.pick(self.labels.groups.get(path, {}), path.rsplit("/", 1)[-1])
            columns = tuple((p, seen[p]) for p in paths)
            aligned = tuple(tuple(row.get(p) for p in paths) for row in rows)
            found.append(RepeatTable(path, label, columns, aligned))
        for inner, inner_rows in nested.items():
            found.extend(self.tables(inner, inner_rows))
        return found


def render_instance(
    labels: FormLabels,
    instance: bytes,
    language: str = "id",
    skip: frozenset[str] = frozenset({"meta"}),
) -> list[Section]:
    """Sections of the answered questions of `instance`, labelled in `language`."""
    try:
        root = etree.fromstring(instance, safe_parser())
    except (etree.XMLSyntaxError, ValueError) as exc:
        raise ValueError(f"the submission is not well-formed XML: {exc}") from None
    renderer = _Renderer(labels, language)
    renderer.section("")
    renderer.walk(root, "", "", skip)
    return [
        Section(path, label, tuple(answers), tuple(tables))
        for path, (label, answers, tables) in renderer.sections.items()
        if answers or tables
    ]
