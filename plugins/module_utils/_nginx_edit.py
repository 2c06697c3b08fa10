# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Minimal in-place edits of one nginx configuration file, located by tokens.

A :class:`Document` holds the bytes of one file, its tokens from the collection's own lexer
(:func:`nginx_parser.lex`), the position of every token in the text and the statement tree.
Edits are recorded as text replacements over token spans, so everything an edit does not
name - comments, blank lines, indentation, quoting, line ends, bytes that are not UTF-8 -
stays byte-identical. :meth:`Document.render` applies them and proves the result: the new
text is lexed and parsed again and must hold exactly the intended statements and the same
comments, else :class:`EditError` is raised and nothing is written.

Standard library only (runs on the target).
"""
from __future__ import annotations

import re

from ansible_collections.badgateway.doctor.plugins.module_utils.nginx_parser import NginxParseError, lex

_SPACE = re.compile(r"\s*")
_PLAIN_ARG = re.compile(r"""[^\s{};"'\\#][^\s{};"'\\]*\Z""")
_BLANKS = re.compile(r"[ \t]*")


class EditError(Exception):
    """An edit that cannot be made safely. The message names the file (and line) and the cause."""


class Stmt(object):
    """One directive of a :class:`Document`: token indexes of its name, arguments and terminator."""

    __slots__ = ("name", "line", "tok", "arg_toks", "term", "block", "close", "parent")

    def __init__(self, name, line, tok, parent):
        self.name = name
        self.line = line
        self.tok = tok
        self.arg_toks = []
        self.term = None
        self.block = None      # list of Stmt when the directive opens a block
        self.close = None      # token index of the "}" that closes it
        self.parent = parent   # enclosing Stmt, None at the top level of the file


def _normalize(text):
    """Text as the lexer sees it (CR and CRLF become LF) and the map back to ``text`` offsets."""
    if "\r" not in text:
        return text, None
    out = []
    index = []
    pos = 0
    size = len(text)
    while pos < size:
        char = text[pos]
        index.append(pos)
        if char == "\r":
            out.append("\n")
            pos += 2 if text.startswith("\r\n", pos) else 1
        else:
            out.append(char)
            pos += 1
    index.append(size)
    return "".join(out), index


def _quoted_end(text, pos):
    """Index just after the quoted string that starts at ``pos`` (backslash escapes), or None."""
    quote = text[pos]
    pos += 1
    size = len(text)
    while pos < size:
        char = text[pos]
        if char == "\\":
            pos += 2
        elif char == quote:
            return pos + 1
        else:
            pos += 1
    return None


def _spans(text, tokens, path):
    """``[(start, end)]`` of every token in ``text`` (the raw text, CRs kept).

    Walks the text beside the lexer's tokens and checks that each token is what the text holds
    there, so an edit can never land on the wrong bytes. A ``*_by_lua_block`` body is the text
    between its braces and the ``;`` the lexer adds stands for the closing brace.
    """
    norm, index = _normalize(text)
    spans = []
    pos = 0
    lua_close = None
    for token, line, quoted in tokens:
        if lua_close is not None:
            spans.append((lua_close, lua_close + 1))
            pos = lua_close + 1
            lua_close = None
            continue
        pos = _SPACE.match(norm, pos).end()
        start = pos
        char = norm[pos:pos + 1]
        if quoted and char in ('"', "'"):
            end = _quoted_end(norm, pos)
            if end is None or lex(norm[pos:end]) != [(token, 1, True)]:
                end = None
        elif quoted and char == "{":
            end = pos + 1 + len(token)
            if norm[pos + 1:end] != token or norm[end:end + 1] != "}":
                end = None
            else:
                lua_close = end
                start = pos + 1
        elif not quoted and norm.startswith(token, pos):
            end = pos + len(token)
            if token.startswith("#") and norm.startswith("\\\n", end):
                end += 2
        else:
            end = None
        if end is None:
            raise EditError("%s:%s: cannot locate the token %r in the text; refusing to edit this file"
                            % (path, line, token[:60]))
        spans.append((start, end))
        if lua_close is None:
            pos = end
    if index is not None:
        spans = [(index[start], index[end]) for start, end in spans]
    return spans


def _kinds(tokens):
    """Per token: ``"{"``, ``"}"``, ``";"``, ``"#"`` (a comment) or ``""`` (a name or an argument)."""
    out = []
    append = out.append
    for token, _line, quoted in tokens:
        if quoted:
            append("")
        elif token in ("{", "}", ";"):
            append(token)
        elif token[0] == "#":
            append("#")
        else:
            append("")
    return out


def _tree(tokens, kinds, path):
    """The statement tree of one file (a list of :class:`Stmt`); :class:`EditError` on bad syntax."""
    root = []
    current = root
    parent = None
    stack = []
    size = len(tokens)
    i = 0
    while i < size:
        kind = kinds[i]
        if kind == "}":
            if parent is None:
                raise EditError('%s:%s: unexpected "}"' % (path, tokens[i][1]))
            parent.close = i
            current, parent = stack.pop()
            i += 1
            continue
        if kind == "#":
            i += 1
            continue
        if kind:
            raise EditError('%s:%s: unexpected "%s"' % (path, tokens[i][1], kind))
        stmt = Stmt(tokens[i][0], tokens[i][1], i, parent)
        args = stmt.arg_toks
        j = i + 1
        while j < size:
            kind = kinds[j]
            if not kind:
                args.append(j)
            elif kind != "#":
                break
            j += 1
        if j >= size or kind == "}":
            raise EditError('%s:%s: directive "%s" is not terminated by ";"' % (path, tokens[i][1], tokens[i][0]))
        stmt.term = j
        current.append(stmt)
        if kind == "{":
            stmt.block = []
            stack.append((current, parent))
            current, parent = stmt.block, stmt
        i = j + 1
    if parent is not None:
        raise EditError('%s: unexpected end of file, expecting "}"' % path)
    return root


def walk(stmts):
    """Every statement of a tree, depth first, in file order."""
    stack = [iter(stmts)]
    while stack:
        stmt = next(stack[-1], None)
        if stmt is None:
            stack.pop()
            continue
        yield stmt
        if stmt.block is not None:
            stack.append(iter(stmt.block))


def render_arg(value, quote=None):
    """``value`` as nginx configuration text: bare when that lexes back to the same value,
    else quoted (``quote`` first when given). :class:`EditError` when no form is safe."""
    if not isinstance(value, str):
        raise EditError("argument %r is not a string" % (value,))
    if "\n" in value or "\r" in value or "\x00" in value:
        raise EditError("argument %r holds a line break or NUL; refusing to write it" % value)
    if quote is None and _PLAIN_ARG.match(value) and "${" not in value:
        return value
    for char in ((quote,) if quote else ()) + ('"', "'"):
        if char not in value and "\\" not in value:
            return char + value + char
    raise EditError("argument %r holds both kinds of quotes or a backslash; refusing to write it" % value)


class Document(object):
    """One configuration file and the edits recorded on it."""

    def __init__(self, path, data, locate=True):
        """``locate=False`` skips the token positions (a document that is only read, not edited)."""
        if not isinstance(data, bytes):
            raise TypeError("data must be bytes")
        self.path = path
        self.data = data
        self.text = data.decode("utf-8", "surrogateescape")
        self.newline = "\r\n" if "\r\n" in self.text else "\n"
        try:
            self.tokens = lex(self.text, path)
        except NginxParseError as exc:
            raise EditError("cannot edit %s: %s" % (path, exc))
        self.kinds = _kinds(self.tokens)
        self.spans = _spans(self.text, self.tokens, path) if locate else None
        self.root = _tree(self.tokens, self.kinds, path)
        self._by_line = None
        self.changes = []        # (start, end, text, sequence)
        self.replaced = {}       # id(stmt) -> (name, [args])
        self.deleted = set()     # id(stmt)
        self.inserted = {}       # ("after", id(stmt)) | ("start", id(block owner) or None) -> [(name, args)]

    # ---------------------------------------------------------------- reading

    def args(self, stmt):
        return [self.tokens[i][0] for i in stmt.arg_toks]

    def stmts_at(self, line):
        if self._by_line is None:
            self._by_line = {}
            for stmt in walk(self.root):
                self._by_line.setdefault(stmt.line, []).append(stmt)
        return list(self._by_line.get(line, ()))

    def where(self, stmt):
        return "%s:%s" % (self.path, stmt.line)

    def describe(self, stmt):
        return " ".join([stmt.name] + [render_arg(a) if _safe_to_show(a) else repr(a) for a in self.args(stmt)])

    def block_of(self, stmt):
        """The statements of the block ``stmt`` opens (or of the block it is in)."""
        if stmt.block is not None:
            return stmt, stmt.block
        parent = stmt.parent
        return parent, (parent.block if parent is not None else self.root)

    # ---------------------------------------------------------------- recording edits

    def _change(self, start, end, text):
        self.changes.append((start, end, text, len(self.changes)))

    def _raw_quote(self, tok):
        start = self.spans[tok][0]
        char = self.text[start:start + 1]
        return char if self.tokens[tok][2] and char in ('"', "'") else None

    def replace(self, stmt, name, args):
        """Give ``stmt`` the name ``name`` and the arguments ``args`` (a minimal text change)."""
        old = self.args(stmt)
        if name == stmt.name and list(args) == old:
            return False
        if id(stmt) in self.replaced or id(stmt) in self.deleted:
            raise EditError("%s: two edits change the same directive %s" % (self.where(stmt), stmt.name))
        self.replaced[id(stmt)] = (name, list(args))
        if name != stmt.name:
            start, end = self.spans[stmt.tok]
            self._change(start, end, render_arg(name))
        common = min(len(old), len(args))
        for k in range(common):
            if args[k] != old[k]:
                tok = stmt.arg_toks[k]
                start, end = self.spans[tok]
                self._change(start, end, render_arg(args[k], self._raw_quote(tok)))
        if len(args) > len(old):
            anchor = stmt.arg_toks[-1] if stmt.arg_toks else stmt.tok
            extra = " ".join(render_arg(a) for a in args[common:])
            end = self.spans[anchor][1]
            self._change(end, end, " " + extra)
        for k in range(common, len(old)):
            tok = stmt.arg_toks[k]
            prev_end = self.spans[tok - 1][1]
            self._change(prev_end, self.spans[tok][1], "")
        return True

    def delete(self, stmt):
        """Remove ``stmt``: its whole line when nothing else is on it, else just the directive."""
        if id(stmt) in self.replaced or id(stmt) in self.deleted:
            raise EditError("%s: two edits change the same directive %s" % (self.where(stmt), stmt.name))
        self.deleted.add(id(stmt))
        start = self.spans[stmt.tok][0]
        end = self.spans[stmt.close if stmt.block is not None else stmt.term][1]
        line_start = self.text.rfind("\n", 0, start) + 1
        line_end = self.text.find("\n", end)
        line_end = len(self.text) if line_end < 0 else line_end + 1
        before = self.text[line_start:start]
        if before.strip() == "" and self.text[end:line_end].strip() == "":
            self._change(line_start, line_end, "")
        elif before.strip() != "":
            self._change(start - (len(before) - len(before.rstrip(" \t"))), end, "")
        else:
            self._change(start, _BLANKS.match(self.text, end).end(), "")

    def _indent_of(self, tok):
        """The indentation of the line ``tok`` starts, or None when other text precedes it there."""
        start = self.spans[tok][0]
        line_start = self.text.rfind("\n", 0, start) + 1
        lead = self.text[line_start:start]
        return lead if _BLANKS.fullmatch(lead) else None

    def _indent_unit(self):
        for stmt in walk(self.root):
            if stmt.parent is not None:
                inner = self._indent_of(stmt.tok)
                outer = self._indent_of(stmt.parent.tok)
                if inner is not None and outer is not None and inner.startswith(outer) and len(inner) > len(outer):
                    return inner[len(outer):]
        return "    "

    def _after_line(self, end):
        """Where text goes after position ``end``: the end of its line when only blanks and a comment follow."""
        line_end = self.text.find("\n", end)
        if line_end < 0:
            line_end = len(self.text)
        tail = self.text[end:line_end].rstrip("\r")
        stripped = tail.strip()
        if stripped == "" or stripped.startswith("#"):
            return end + len(tail), True
        return end, False

    def insert(self, owner, block, name, args):
        """Add ``name args;`` to ``block`` (the statements of ``owner``'s block, or the file's top level)
        after its last directive, with that directive's indentation."""
        text = " ".join([render_arg(name)] + [render_arg(a) for a in args]) + ";"
        live = [s for s in block if id(s) not in self.deleted]
        if live:
            last = live[-1]
            key = ("after", id(last))
            end = self.spans[last.close if last.block is not None else last.term][1]
            indent = self._indent_of(last.tok)
        elif owner is not None:
            key = ("start", id(owner))
            end = self.spans[owner.term][1]
            outer = self._indent_of(owner.tok)
            same_line = self.tokens[owner.close][1] == self.tokens[owner.term][1]
            indent = None if outer is None or same_line else outer + self._indent_unit()
        else:
            key = ("start", None)
            self.inserted.setdefault(key, []).append((name, list(args)))
            end = len(self.text)
            lead = "" if not self.text or self.text.endswith("\n") else self.newline
            self._change(end, end, lead + text + self.newline)
            return
        self.inserted.setdefault(key, []).append((name, list(args)))
        position, at_line_end = self._after_line(end)
        if indent is not None and at_line_end:
            self._change(position, position, self.newline + indent + text)
        else:
            self._change(end, end, " " + text)

    # ---------------------------------------------------------------- result

    def new_line(self, line):
        """The line that line ``line`` of the original text starts on after the recorded edits."""
        norm, index = _normalize(self.text)
        offset = 0
        for _count in range(line - 1):
            found = norm.find("\n", offset)
            if found < 0:
                break
            offset = found + 1
        if index is not None:
            offset = index[offset]
        shift = 0
        for start, end, text, _seq in self.changes:
            if start < offset and end <= offset:
                shift += _breaks(text) - _breaks(self.text[start:end])
        return line + shift

    def render(self):
        """The new bytes with every recorded edit applied; verified by lexing and parsing them again."""
        if not self.changes:
            return self.data
        ordered = sorted(self.changes, key=lambda c: (c[0], c[1], c[3]))
        out = []
        pos = 0
        for start, end, text, _seq in ordered:
            if start < pos:
                raise EditError("%s: two edits overlap; refusing to edit this file" % self.path)
            out.append(self.text[pos:start])
            out.append(text)
            pos = end
        out.append(self.text[pos:])
        data = "".join(out).encode("utf-8", "surrogateescape")
        self._verify(data)
        return data

    def _verify(self, data):
        try:
            new = Document(self.path, data, locate=False)
        except EditError as exc:
            raise EditError("the edited text of %s would not parse (%s); refusing to write it" % (self.path, exc))
        if _flat(new) != _flat(self, self.replaced, self.deleted, self.inserted):
            raise EditError("the edited text of %s does not hold exactly the intended directives; refusing to write it"
                            % self.path)
        if _comments(new) != _comments(self):
            raise EditError("the edit would change a comment of %s; refusing to write it" % self.path)


def _flat(doc, replaced=None, deleted=(), inserted=None):
    """The statements of ``doc`` as a flat list (``;`` or ``{`` with name and arguments, ``}``), with the
    recorded edits applied when given: what the edited text must parse to. Iterative (no recursion limit)."""
    replaced = replaced or {}
    inserted = inserted or {}
    out = []

    def add(key):
        for name, args in inserted.get(key, ()):
            out.append((";", name, tuple(args)))

    add(("start", None))
    stack = [(iter(doc.root), None)]
    while stack:
        stmt = next(stack[-1][0], None)
        if stmt is None:
            owner = stack.pop()[1]
            if owner is not None:
                out.append(("}",))
                add(("after", id(owner)))
            continue
        if id(stmt) in deleted:
            continue
        name, args = replaced.get(id(stmt), (stmt.name, doc.args(stmt)))
        if stmt.block is None:
            out.append((";", name, tuple(args)))
            add(("after", id(stmt)))
        else:
            out.append(("{", name, tuple(args)))
            add(("start", id(stmt)))
            stack.append((iter(stmt.block), stmt))
    return out


def _breaks(text):
    return text.count("\n") + text.count("\r") - text.count("\r\n")


def _comments(doc):
    return [token[0] for token, kind in zip(doc.tokens, doc.kinds) if kind == "#"]


def _safe_to_show(value):
    try:
        render_arg(value)
        return True
    except EditError:
        return False
