# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A tokenizer and parser for nginx configuration files (standard library only).

The output is the JSON payload that `crossplane <https://github.com/nginxinc/crossplane>`_
produces (``crossplane.parse``), so tools written for it can consume it unchanged::

    {"status": "ok" | "failed",
     "errors": [{"file": ..., "error": ..., "line": ...}],
     "config": [{"file": ..., "status": ..., "errors": [{"error": ..., "line": ...}],
                 "parsed": [{"directive": ..., "line": ..., "args": [...],
                             "block": [...]?, "includes": [index, ...]?, "comment": ...?}]}]}

Public API:

* :func:`parse` -- parse a main config and (unless ``single_file``) every file it includes,
  from disk or from a virtual file system (``files``, for example from :func:`split_nginx_T`).
* :func:`lex` -- the token stream of one file as ``(token, line, quoted)`` tuples.
* :func:`split_nginx_T` -- split ``nginx -T`` output into ``{path: text}``.
* :class:`NginxParseError` -- the only exception :func:`parse` raises (with
  ``catch_errors=False``); :func:`lex` raises it for unbalanced braces, as crossplane does.

Lexing follows crossplane's rules: ``\\x`` escapes are kept verbatim outside quotes, inside
quotes only an escaped quote of the same kind loses its backslash, ``#`` starts a comment only
at the start of a token, ``${var}`` may glue following text into the token, ``*_by_lua_block``
bodies are one raw quoted argument, text is decoded as UTF-8 with invalid bytes replaced by
U+FFFD, and CR/CRLF line ends count as LF.

Deliberate differences from crossplane (none of them changes a result crossplane's own tests
expect): crossplane's directive table checks (``strict``, context and argument checks) are
not implemented; a directive ended by ``}`` is always reported as not terminated by ``;``;
a syntax error keeps everything parsed before it (crossplane drops the whole file);
text cut short by the end of the file is an error with a line number instead of an empty
message; an include cycle is reported as an error; every directive whose name ends in
``_by_lua_block`` is lexed as a Lua block.
"""
from __future__ import annotations

import errno
import fnmatch
import gc
import glob
import os
import re

__all__ = ["NginxParseError", "parse", "lex", "split_nginx_T"]


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


def _decode(data):
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


def _tokenize(text, filename="<string>"):
    """Tokenize decoded config text.

    Returns ``(tokens, error)``: the list of ``(token, line, quoted)`` tuples and the
    :class:`NginxParseError` that stopped lexing early (or ``None``). Braces are not checked
    for balance here; the parser does that. Text without ``_by_lua_block`` takes a faster
    path that gives the same tokens.
    """
    if _LUA_MARK in text:
        return _tokenize_slow(text, filename)
    return _tokenize_fast(text, filename)


def _check_braces(tokens, filename):
    """Raise :class:`NginxParseError` if the braces in ``tokens`` do not balance."""
    depth = 0
    line = 1
    for token, line, quoted in tokens:
        if quoted:
            continue
        if token == "{":
            depth += 1
        elif token == "}":
            depth -= 1
            if depth < 0:
                raise NginxParseError('unexpected "}"', filename, line)
    if depth > 0:
        raise NginxParseError('unexpected end of file, expecting "}"', filename, line)


def lex(text_or_bytes, filename="<string>"):
    """Split nginx config text into tokens, like ``crossplane.lex``.

    ``text_or_bytes`` is the content of one file (bytes are decoded as UTF-8 with invalid
    bytes replaced). Returns a list of ``(token, line, quoted)`` tuples: quotes are removed
    from quoted tokens, comments are tokens starting with ``#``, and a ``*_by_lua_block`` body
    is one quoted token followed by ``;``. Raises :class:`NginxParseError` for unbalanced
    braces, an unterminated quoted string or a malformed Lua block. Unlike crossplane, a
    token cut off by the end of the text is returned rather than dropped.
    """
    tokens, error = _tokenize(_decode(text_or_bytes), filename)
    if error is not None:
        raise error
    _check_braces(tokens, filename)
    return tokens


# --------------------------------------------------------------------------------------------
# File access (disk or virtual)
# --------------------------------------------------------------------------------------------

_MAGIC_RE = re.compile(r"[*?[]")
# first characters of unquoted tokens that are not directive names or arguments
_DIRECTIVE_SPECIAL = frozenset("{};#")


class _Source(object):
    """Reads files and expands include globs, from disk or from a ``{path: content}`` dict."""

    def __init__(self, files=None):
        self.files = files
        self.cache = {}

    def read(self, path):
        """Return the decoded text of ``path``; raise ``OSError`` if it cannot be read."""
        text = self.cache.pop(path, None)
        if text is not None:
            return text
        if self.files is None:
            with open(path, "rb") as handle:
                data = handle.read()
        else:
            data = self.files.get(path)
            if data is None:
                data = self.files.get(os.path.normpath(path))
            if data is None:
                raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), path)
        return _decode(data)

    def check(self, path):
        """Raise ``OSError`` if ``path`` cannot be read; keep its text for the coming parse."""
        if path not in self.cache:
            self.cache[path] = self.read(path)

    def glob(self, pattern):
        """Return the paths matching a glob ``pattern``, sorted."""
        if self.files is None:
            return sorted(glob.glob(pattern))
        parts = os.path.normpath(pattern).split("/")
        found = []
        for key in self.files:
            key_parts = os.path.normpath(key).split("/")
            if len(key_parts) != len(parts):
                continue
            for name, part in zip(key_parts, parts):
                if name.startswith(".") and not part.startswith("."):
                    break
                if not fnmatch.fnmatchcase(name, part):
                    break
            else:
                found.append(key)
        return sorted(found)


# --------------------------------------------------------------------------------------------
# Parser
# --------------------------------------------------------------------------------------------


def _strip_if_parens(args):
    """Remove the parentheses around an ``if`` condition, as crossplane does."""
    if args and args[0].startswith("(") and args[-1].endswith(")"):
        args[0] = args[0][1:].lstrip()
        args[-1] = args[-1][:-1].rstrip()
        start = 0 if args[0] else 1
        end = len(args) - (0 if args[-1] else 1)
        args[:] = args[start:end]


class _Parser(object):
    """State of one :func:`parse` call: the payload, the include queue and the options."""

    def __init__(self, path, comments, single_file, combine, ignore, catch_errors, files, prefix):
        self.comments = comments
        self.single_file = single_file
        self.combine = combine
        self.ignore = frozenset(ignore or ())
        self.catch_errors = catch_errors
        self.source = _Source(files)
        self.config_dir = prefix if prefix is not None else os.path.dirname(path)
        self.payload = {"status": "ok", "errors": [], "config": []}
        self.queue = [path]
        self.index = {path: 0}
        # per config index: [(include line, included index)] for the cycle check
        self.include_edges = []
        # one string object per distinct directive name or argument (saves memory)
        self.strings = {}

    # errors -----------------------------------------------------------------------------

    def error(self, entry, message, line, located=True):
        """Record an error in file ``entry``, or raise it when errors are not caught.

        The payload text is ``"message in file:line"`` like crossplane's, except for
        operating-system errors (``located=False``) which crossplane reports as Python words
        them (``[Errno 2] No such file or directory: 'path'``) while still giving the line.
        """
        fname = entry["file"]
        if not self.catch_errors:
            raise NginxParseError(message, fname, line)
        if located and line is not None:
            text = "%s in %s:%s" % (message, fname, line)
        else:
            text = message
        entry["status"] = "failed"
        entry["errors"].append({"error": text, "line": line})
        self.payload["status"] = "failed"
        self.payload["errors"].append({"file": fname, "error": text, "line": line})

    # includes ---------------------------------------------------------------------------

    def resolve_include(self, entry, stmt):
        """Fill ``stmt["includes"]`` with the indexes of the files an include names."""
        pattern = stmt["args"][0]
        if not os.path.isabs(pattern):
            pattern = os.path.join(self.config_dir, pattern)
        if _MAGIC_RE.search(pattern):
            try:
                names = self.source.glob(pattern)
            except (OSError, ValueError) as exc:
                self.error(entry, str(exc), stmt["line"], located=False)
                names = []
        else:
            try:
                if pattern not in self.index:
                    self.source.check(pattern)
                names = [pattern]
            except (OSError, ValueError) as exc:
                self.error(entry, str(exc), stmt["line"], located=False)
                names = []
        indexes = []
        for name in names:
            index = self.index.get(name)
            if index is None:
                index = self.index[name] = len(self.queue)
                self.queue.append(name)
            indexes.append(index)
        stmt["includes"] = indexes
        return indexes

    # one file ---------------------------------------------------------------------------

    def parse_tokens(self, entry, tokens, truncated=False):
        """Build the ``parsed`` tree of one file from its tokens (iteratively, no recursion).

        ``truncated`` means lexing stopped at an error that will be reported instead of the
        end-of-file errors the missing tokens would cause here.
        """
        fname = entry["file"]
        comments = self.comments
        combine = self.combine
        ignore = self.ignore
        follow = not self.single_file
        edges = self.include_edges[-1]
        intern = self.strings.setdefault
        parsed = entry["parsed"]
        stack = []
        last_line = tokens[-1][1] if tokens else 1
        stream = iter(tokens)
        for token, line, quoted in stream:
            if not quoted and token[0] in _DIRECTIVE_SPECIAL:
                if token == "}":
                    if stack:
                        parsed = stack.pop()
                    else:
                        self.error(entry, 'unexpected "}"', line)
                elif token == ";":
                    self.error(entry, 'unexpected ";"', line)
                elif token == "{":
                    self.error(entry, 'unexpected "{"', line)
                    self.skip_block(entry, stream, last_line, truncated)
                elif comments:
                    if combine:
                        parsed.append({"file": fname, "directive": "#", "line": line, "args": [], "comment": token[1:]})
                    else:
                        parsed.append({"directive": "#", "line": line, "args": [], "comment": token[1:]})
                continue
            # a directive: its arguments run up to ";", "{" or "}"
            args = []
            arg_comments = None
            for arg, _arg_line, arg_quoted in stream:
                if arg_quoted or arg[0] not in _DIRECTIVE_SPECIAL:
                    args.append(intern(arg, arg))
                elif arg[0] == "#":
                    if arg_comments is None:
                        arg_comments = []
                    arg_comments.append(arg[1:])
                else:
                    term = arg
                    break
            else:
                # nginx reports only this, even inside an open block
                if not truncated:
                    self.error(entry, 'unexpected end of file, expecting ";" or "}"', last_line)
                return
            if term == "}":
                if stack:
                    self.error(entry, 'directive "%s" is not terminated by ";"' % token, line)
                    parsed = stack.pop()
                else:
                    self.error(entry, 'unexpected "}"', _arg_line)
                continue
            if token in ignore:
                if term == "{":
                    self.skip_block(entry, stream, last_line, truncated)
                continue
            if token == "if":
                _strip_if_parens(args)
            token = intern(token, token)
            if combine:
                stmt = {"file": fname, "directive": token, "line": line, "args": args}
            else:
                stmt = {"directive": token, "line": line, "args": args}
            if token == "include":
                if len(args) != 1:
                    self.error(entry, 'invalid number of arguments in "include" directive', line)
                    if term == "{":
                        self.skip_block(entry, stream, last_line, truncated)
                    continue
                if follow:
                    for target in self.resolve_include(entry, stmt):
                        edges.append((line, target))
            parsed.append(stmt)
            if arg_comments is not None and comments:
                for text in arg_comments:
                    parsed.append({"directive": "#", "line": line, "args": [], "comment": text})
            if term == "{":
                block = stmt["block"] = []
                stack.append(parsed)
                parsed = block
        if stack and not truncated:
            self.error(entry, 'unexpected end of file, expecting "}"', last_line)

    def skip_block(self, entry, stream, last_line, truncated):
        """Consume tokens up to the ``}`` that closes a block just opened (ignored content)."""
        depth = 1
        for token, _line, quoted in stream:
            if quoted:
                continue
            if token == "{":
                depth += 1
            elif token == "}":
                depth -= 1
                if depth == 0:
                    return
        if not truncated:
            self.error(entry, 'unexpected end of file, expecting "}"', last_line)

    def parse_file(self, name):
        """Read, lex and parse one file into a config entry of the payload."""
        entry = {"file": name, "status": "ok", "errors": [], "parsed": []}
        self.payload["config"].append(entry)
        self.include_edges.append([])
        try:
            text = self.source.read(name)
        except (OSError, ValueError) as exc:
            self.error(entry, str(exc), None, located=False)
            return
        tokens, lex_error = _tokenize(text, name)
        self.parse_tokens(entry, tokens, lex_error is not None)
        if lex_error is not None:
            self.error(entry, lex_error.message, lex_error.line)

    # whole run --------------------------------------------------------------------------

    def check_cycles(self):
        """Report every include that leads back to a file whose include is still open.

        A depth-first walk over the include graph from the main file; an edge to a file on
        the current chain is a cycle (nginx would include files forever). The error is put
        on the include directive that closes the cycle.
        """
        configs = self.payload["config"]
        state = [0] * len(configs)  # 0 unvisited, 1 on the current chain, 2 finished
        state[0] = 1
        chain = [0]
        stack = [iter(self.include_edges[0])]
        found = []
        while stack:
            step = next(stack[-1], None)
            if step is None:
                state[chain.pop()] = 2
                stack.pop()
                continue
            line, target = step
            if state[target] == 1:
                names = [configs[i]["file"] for i in chain[chain.index(target):]]
                names.append(configs[target]["file"])
                found.append((chain[-1], line, " -> ".join(names)))
            elif state[target] == 0:
                state[target] = 1
                chain.append(target)
                stack.append(iter(self.include_edges[target]))
        for index, line, names in found:
            self.error(configs[index], "include cycle: %s" % names, line)

    def run(self):
        """Parse the main file and everything it includes; return the payload."""
        position = 0
        while position < len(self.queue):
            self.parse_file(self.queue[position])
            position += 1
            if self.single_file:
                break
        if not self.single_file:
            self.check_cycles()
        if self.combine:
            return _combine(self.payload)
        return self.payload


def _combine(payload):
    """Merge all config entries into the first one, replacing includes by their content.

    Like crossplane's ``combine=True``: include directives that were followed disappear and
    the included statements (each carrying its ``file``) take their place; errors of all
    files are gathered in the single entry. Includes that form a cycle are not expanded again.
    """
    configs = payload["config"]
    merged = {"file": configs[0]["file"], "status": "ok", "errors": [], "parsed": []}
    for config in configs:
        merged["errors"].extend(config["errors"])
        if config["status"] == "failed":
            merged["status"] = "failed"
    # each frame: [iterator over source statements, output list, indexes of files being expanded]
    stack = [[iter(configs[0]["parsed"]), merged["parsed"], (0,)]]
    while stack:
        frame = stack[-1]
        stmt = next(frame[0], None)
        if stmt is None:
            stack.pop()
            continue
        out, chain = frame[1], frame[2]
        if "includes" in stmt:
            for index in reversed(stmt["includes"]):
                if index not in chain:
                    stack.append([iter(configs[index]["parsed"]), out, chain + (index,)])
            continue
        if "block" in stmt:
            copy = dict(stmt)
            copy["block"] = []
            out.append(copy)
            stack.append([iter(stmt["block"]), copy["block"], chain])
        else:
            out.append(stmt)
    return {"status": payload["status"], "errors": payload["errors"], "config": [merged]}


def parse(path, *, comments=False, single_file=False, combine=False, ignore=(), catch_errors=True,
          files=None, prefix=None):
    """Parse the nginx config ``path`` and the files it includes into crossplane's payload.

    :param path: the main config file. File names in the payload are built from it as given
        (a relative ``path`` gives relative names, as with crossplane).
    :param comments: keep comments as ``{"directive": "#", "comment": text}`` statements.
    :param single_file: do not follow ``include`` directives.
    :param combine: return one config entry with includes replaced by what they include.
    :param ignore: directive names to leave out (with their blocks).
    :param catch_errors: ``True`` records errors in the payload and goes on; ``False`` raises
        :class:`NginxParseError` at the first one.
    :param files: optional ``{absolute path: bytes or str}`` used instead of the disk (for
        example :func:`split_nginx_T` output); include globs match its keys.
    :param prefix: directory that relative include paths are resolved against. Defaults to
        the directory of ``path`` (crossplane's rule, and nginx's when ``path`` is the file
        given to ``nginx -c``).
    :returns: ``{"status", "errors", "config"}`` as described in the module documentation.
    """
    parser = _Parser(path, comments, single_file, combine, ignore, catch_errors, files, prefix)
    # the payload is a tree without reference cycles: the cyclic garbage collector would only
    # scan the many new dicts and lists again and again, so it is paused while building it
    enabled = gc.isenabled()
    gc.disable()
    try:
        return parser.run()
    finally:
        if enabled:
            gc.enable()


_DUMP_MARKER_RE = re.compile(r"^# configuration file (.+):$", re.MULTILINE)


def split_nginx_T(output):  # noqa: N802 (named after the nginx option)
    """Split ``nginx -T`` output into ``{path: text}`` (in dump order; the first is the main file).

    nginx writes ``# configuration file PATH:`` before each file and a newline after its
    content; that newline is removed. Anything before the first marker (the ``syntax is ok``
    lines when stderr was captured too) is ignored.
    """
    result = {}
    markers = list(_DUMP_MARKER_RE.finditer(output))
    for number, marker in enumerate(markers):
        start = marker.end() + 1
        end = markers[number + 1].start() if number + 1 < len(markers) else len(output)
        text = output[start:end]
        if text.endswith("\n"):
            text = text[:-1]
        path = marker.group(1)
        if path not in result:
            result[path] = text
    return result
