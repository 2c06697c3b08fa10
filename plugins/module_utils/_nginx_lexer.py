# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The nginx configuration lexer: text -> ``(token, line, quoted)`` tuples, as crossplane lexes.

Lexing follows crossplane's rules: ``\\x`` escapes are kept verbatim outside quotes, inside
quotes only an escaped quote of the same kind loses its backslash, ``#`` starts a comment only
at the start of a token, ``${var}`` may glue following text into the token, ``*_by_lua_block``
bodies are one raw quoted argument, text is decoded as UTF-8 with invalid bytes replaced by
U+FFFD, and CR/CRLF line ends count as LF.  Unlike crossplane, a token cut off by the end of
the text is returned rather than dropped, and every directive whose name ends in
``_by_lua_block`` is lexed as a Lua block.

Public: :func:`lex` and :class:`NginxParseError` (both re-exported by ``nginx_parser``).
"""
from __future__ import annotations

import re

__all__ = ["NginxParseError", "lex"]


class NginxParseError(Exception):
    """An error in an nginx configuration (syntax, unreadable or missing file, include cycle).

    ``file`` is the file the error is in (``None`` if unknown), ``line`` the 1-based line
    (``None`` when the error concerns a whole file), ``message`` the reason without location.
    ``str()`` gives ``"message in file:line"`` when the location is known.
    """

    def __init__(self, message, file=None, line=None):
        self.message = message
        self.file = file
        self.line = line
        if file is not None and line is not None:
            text = "%s in %s:%s" % (message, file, line)
        else:
            text = message
        super(NginxParseError, self).__init__(text)


# --------------------------------------------------------------------------------------------
# Lexer
# --------------------------------------------------------------------------------------------

# Token patterns. An escape (a backslash and the character after it, even a newline) is one
# unit everywhere. A word that reaches ``${`` takes what follows as crossplane does: characters
# up to ``}`` or a space, then one more character whatever it is unless it is ``{``, ``}`` or
# ``;`` (so ``/a/${uri} /b`` is one token), then it goes on as a word.
_WORD = r"""(?:[^\s{};\\]+|\\[\s\S]?|(?<=\$)\{(?:[^\s}\\]|\\[^}])*(?:\\?\})?(?:[^{};\\]|\\[\s\S]?)?)+"""
_COMMENT = r"""\#[^\n\\]*(?:\\[^\n][^\n\\]*)*"""  # an escaped newline right after it ends it and is dropped
_DQUOTED = r'''"[^"\\]*(?:\\[\s\S][^"\\]*)*"'''
_SQUOTED = r"""'[^'\\]*(?:\\[\s\S][^'\\]*)*'"""

# Every character that is not whitespace starts one of the alternatives, so ``finditer``
# skips exactly the whitespace between tokens.
_TOKEN_RE = re.compile(
    r"([{};])|(%s)(?:\\\n)?|(%s)|(%s)|([\"'])|(%s)" % (_COMMENT, _DQUOTED, _SQUOTED, _WORD)
)
_TOK_SPECIAL, _TOK_COMMENT, _TOK_DQUOTED, _TOK_SQUOTED, _TOK_OPEN_QUOTE, _TOK_WORD = range(1, 7)

# The same without groups, for ``findall``; a newline and the blanks after it are a token so
# that lines can be counted without positions.
_FAST_RE = re.compile(
    r"\n[^\S\n]*|[{};]|%s(?:\\\n)?|%s|%s|[\"']|%s" % (_COMMENT, _DQUOTED, _SQUOTED, _WORD)
)
_UNIT_RE = re.compile(r"\\[\s\S]?|[\s\S]")
_SPACE_RE = re.compile(r"\s*")
_NON_SPACE_RE = re.compile(r"(?:[^\s\\]|\\[\s\S]?)+")
_LUA_BODY_RE = re.compile(
    r"""[^{}"'\\-]+ | --[^\n]* | - | \\[\s\S]? | "(?:[^"\\]|\\[\s\S])*" | '(?:[^'\\]|\\[\s\S])*' | ([{}]) | ["']""",
    re.VERBOSE,
)
_LUA_MARK = "_by_lua_block"
_NOT_WORD = frozenset("\n{};\"'#")
_LUA_NAME_RE = re.compile(r"[A-Za-z0-9_]*_by_lua_block\Z")


def decode(data):
    """Return ``data`` as text the way crossplane reads a file.

    Bytes are decoded as UTF-8 with invalid sequences replaced by U+FFFD; CRLF and lone CR
    become LF (Python's universal newlines).
    """
    if isinstance(data, bytes):
        text = data.decode("utf-8", "replace")
    else:
        text = data
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text


def _unescape_quoted(body, quote):
    """Drop the backslash of escaped ``quote`` characters; keep every other escape verbatim."""
    escaped = "\\" + quote
    return _UNIT_RE.sub(lambda m: quote if m.group(0) == escaped else m.group(0), body)


def _line_after(text, start, end, line):
    """Return ``line`` advanced by the newlines in ``text[start:end]``."""
    return line + text.count("\n", start, end)


def _unit_line(text, pos, line):
    """The line crossplane gives the escape unit at ``pos`` (``line`` is the line of ``pos``).

    crossplane counts a newline before it hands out the character, so a newline (or an
    escaped newline) carries the number of the line it starts.
    """
    if text.startswith("\n", pos) or text.startswith("\\\n", pos):
        return line + 1
    return line


def _lex_lua(text, pos, line, directive, filename, out):
    """Lex a ``*_by_lua_block`` body starting at ``pos`` (just after the directive name).

    Appends the optional ``set_by_lua_block`` variable, the body as one quoted token and a
    ``;`` to ``out``. Inside the body, braces in Lua strings and ``--`` comments do not count
    (as with crossplane; Lua long brackets ``[[ ]]`` are not understood). Returns
    ``(pos, line, error)`` where ``line`` is the line of ``pos``.
    """
    size = len(text)
    if directive == "set_by_lua_block":
        space = _SPACE_RE.match(text, pos).end()
        line = _line_after(text, pos, space, line)
        match = _NON_SPACE_RE.match(text, space)
        if match is None or match.end() >= size:
            return size, line, NginxParseError("unexpected end of file in set_by_lua_block", filename, line)
        pos = match.end()
        line = _line_after(text, space, pos, line)
        out.append((match.group(0), _unit_line(text, pos, line), False))
    space = _SPACE_RE.match(text, pos).end()
    line = _line_after(text, pos, space, line)
    pos = space
    if not text.startswith("{", pos):
        if pos >= size:
            return pos, line, NginxParseError("unexpected end of file, expecting \"{\" to start Lua block", filename, line)
        return pos, line, NginxParseError("expected \"{\" to start Lua block", filename, _unit_line(text, pos, line))
    start = pos + 1
    depth = 1
    for match in _LUA_BODY_RE.finditer(text, start):
        brace = match.group(1)
        if brace == "{":
            depth += 1
        elif brace == "}":
            depth -= 1
            if depth == 0:
                end = match.start()
                line = _line_after(text, pos, end, line)
                out.append((text[start:end], line, True))
                out.append((";", line, False))
                return end + 1, line, None
        elif match.group(0) in ('"', "'"):
            break
    line = _line_after(text, pos, size, line)
    return size, line, NginxParseError("unexpected end of file in Lua block", filename, line)


def _tokenize_fast(text, filename):
    """Tokenize text that has no Lua block (the common case) with one ``findall``."""
    tokens = []
    append = tokens.append
    line = 1
    for token in _FAST_RE.findall(text):
        first = token[0]
        if first not in _NOT_WORD:
            if "\n" in token:
                if token.startswith("\\\n"):
                    append((token, line + 1, False))
                else:
                    append((token, line, False))
                line += token.count("\n")
            else:
                append((token, line, False))
        elif first == "\n":
            line += 1
        elif first == "{" or first == ";" or first == "}":
            append((token, line, False))
        elif first == '"' or first == "'":
            if len(token) == 1:
                return tokens, NginxParseError("unexpected end of file in a quoted string", filename, line)
            body = token[1:-1]
            if "\\" in body:
                body = _unescape_quoted(body, first)
            append((body, line, True))
            if "\n" in body:
                line += body.count("\n")
        elif first == "#":
            if token[-1] == "\n":
                append((token[:-2], line, False))
                line += 1
            else:
                append((token, line, False))
    return tokens, None


def _tokenize_slow(text, filename):
    """Tokenize text that may hold ``*_by_lua_block`` directives (this needs positions)."""
    tokens = []
    append = tokens.append
    size = len(text)
    count = text.count
    line = 1
    last = 0
    is_directive = True
    pos = 0
    while True:
        for match in _TOKEN_RE.finditer(text, pos):
            kind = match.lastindex
            start = match.start()
            line += count("\n", last, start)
            last = start
            lua = None
            if kind == _TOK_WORD:
                word = match.group(kind)
                if word.startswith("\\\n"):
                    append((word, line + 1, False))
                else:
                    append((word, line, False))
                end = match.end()
                if is_directive and end < size and text[end].isspace() and _LUA_NAME_RE.match(word):
                    lua = word
                is_directive = False
            elif kind == _TOK_SPECIAL:
                append((match.group(kind), line, False))
                is_directive = True
            elif kind == _TOK_COMMENT:
                append((match.group(kind), line, False))
            elif kind == _TOK_DQUOTED or kind == _TOK_SQUOTED:
                body = match.group(kind)[1:-1]
                if "\\" in body:
                    body = _unescape_quoted(body, '"' if kind == _TOK_DQUOTED else "'")
                append((body, line, True))
                if is_directive and _LUA_NAME_RE.match(body):
                    lua = body
                is_directive = False
            else:
                return tokens, NginxParseError("unexpected end of file in a quoted string", filename, line)
            if lua is not None:
                end = match.end()
                line += count("\n", start, end)
                pos, line, error = _lex_lua(text, end, line, lua, filename, tokens)
                if error is not None:
                    return tokens, error
                last = pos
                is_directive = True
                break
        else:
            return tokens, None


def tokenize(text, filename="<string>"):
    """Tokenize decoded config text.

    Returns ``(tokens, error)``: the list of ``(token, line, quoted)`` tuples and the
    :class:`NginxParseError` that stopped lexing early (or ``None``). Braces are not checked
    for balance here; the parser does that. Text without ``_by_lua_block`` takes a faster
    path that gives the same tokens.
    """
    if _LUA_MARK in text:
        return _tokenize_slow(text, filename)
    return _tokenize_fast(text, filename)


def brace_depths(tokens, depth=0):
    """Follow the block nesting through ``tokens`` (``(token, line, quoted)``, any iterable:
    consumed only as far as the caller reads): yield ``(depth, line)`` after every unquoted
    brace, ``depth`` starting from the one given."""
    for token, line, quoted in tokens:
        if quoted or (token != "{" and token != "}"):
            continue
        depth += 1 if token == "{" else -1
        yield depth, line


def _check_braces(tokens, filename):
    """Raise :class:`NginxParseError` if the braces in ``tokens`` (a list) do not balance."""
    depth = 0
    for depth, line in brace_depths(tokens):
        if depth < 0:
            raise NginxParseError('unexpected "}"', filename, line)
    if depth > 0:
        raise NginxParseError('unexpected end of file, expecting "}"', filename, tokens[-1][1])


def lex(text_or_bytes, filename="<string>"):
    """Split nginx config text into tokens, like ``crossplane.lex``.

    ``text_or_bytes`` is the content of one file (bytes are decoded as UTF-8 with invalid
    bytes replaced). Returns a list of ``(token, line, quoted)`` tuples: quotes are removed
    from quoted tokens, comments are tokens starting with ``#``, and a ``*_by_lua_block`` body
    is one quoted token followed by ``;``. Raises :class:`NginxParseError` for unbalanced
    braces, an unterminated quoted string or a malformed Lua block. Unlike crossplane, a
    token cut off by the end of the text is returned rather than dropped.
    """
    tokens, error = tokenize(decode(text_or_bytes), filename)
    if error is not None:
        raise error
    _check_braces(tokens, filename)
    return tokens
