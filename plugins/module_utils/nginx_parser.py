# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The nginx configuration parser: files (and the files they include) -> crossplane's payload.

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

Lexing (``_nginx_lexer``) follows crossplane's rules.  Standard library only.

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
import os
import re

from ansible_collections.badgateway.doctor.plugins.module_utils._nginx_lexer import (
    NginxParseError,
    brace_depths,
    decode,
    lex,
    tokenize,
)
from ansible_collections.badgateway.doctor.plugins.module_utils._safe_io import UnsafeFile, read_bytes

__all__ = ["NginxParseError", "parse", "lex", "split_nginx_T"]


# --------------------------------------------------------------------------------------------
# File access (disk or virtual)
# --------------------------------------------------------------------------------------------

_MAGIC_RE = re.compile(r"[*?[]")
# first characters of unquoted tokens that are not directive names or arguments
_DIRECTIVE_SPECIAL = frozenset("{};#")


def _read_file(path):
    """The bytes of the regular file ``path``, through the one safe reader: a FIFO, a device, a
    directory or a file past the size cap is refused with an error naming it (never a hang or
    an unbounded read).  Operating-system errors keep the wording crossplane reports them in
    (``[Errno 2] No such file or directory: 'path'``)."""
    try:
        return read_bytes(path)
    except IsADirectoryError:
        raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), path) from None
    except UnsafeFile as exc:
        if exc.errno is not None:
            raise OSError(exc.errno, os.strerror(exc.errno), path) from None
        raise


class _Source(object):
    """Reads files and expands include globs, from disk or from a ``{path: content}`` dict."""

    def __init__(self, files=None, refused=None):
        self.files = files
        self.refused = refused
        self.cache = {}

    def read(self, path):
        """Return the decoded text of ``path``; raise ``OSError`` if it cannot be read."""
        text = self.cache.pop(path, None)
        if text is not None:
            return text
        if self.files is None:
            try:
                data = _read_file(path)
            except UnsafeFile:
                if self.refused is not None:
                    self.refused.append(path)
                raise
        else:
            data = self.files.get(path)
            if data is None:
                data = self.files.get(os.path.normpath(path))
            if data is None:
                raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), path)
        return decode(data)

    def check(self, path):
        """Raise ``OSError`` if ``path`` cannot be read; keep its text for the coming parse."""
        if path not in self.cache:
            self.cache[path] = self.read(path)

    def glob(self, pattern):
        """Return ``(paths, problems)``: the paths matching a glob ``pattern``, sorted, and a
        sentence for every directory that could not be listed (unreadable: the files it holds
        are unknown, and nginx - which reads its configuration as root - would include them)."""
        if self.files is None:
            return _disk_glob(pattern)
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
        return sorted(found), []


def _disk_glob(pattern):
    """``glob(3)`` as nginx calls it (no flags: names starting with ``.`` only match a pattern
    that starts with one; a missing directory matches nothing), one path component at a time,
    so that a directory that exists but cannot be listed is reported instead of skipped.
    Returns ``(sorted paths, problems)``."""
    paths = ["/" if pattern.startswith("/") else ""]
    problems = []
    for part in (p for p in pattern.split("/") if p):
        if not _MAGIC_RE.search(part):
            paths = [os.path.join(base, part) if base else part for base in paths]
            continue
        hidden = part.startswith(".")
        found = []
        for base in paths:
            try:
                names = os.listdir(base or ".")
            except (FileNotFoundError, NotADirectoryError):
                continue
            except OSError as exc:
                problems.append("cannot list directory %s: %s" % (base or ".", (exc.strerror or str(exc)).lower()))
                continue
            for name in names:
                if (hidden or not name.startswith(".")) and fnmatch.fnmatchcase(name, part):
                    found.append(os.path.join(base, name) if base else name)
        paths = found
    return sorted(p for p in paths if os.path.lexists(p)), problems


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

    def __init__(self, path, comments, single_file, combine, ignore, catch_errors, files, prefix, refused=None):
        self.comments = comments
        self.single_file = single_file
        self.combine = combine
        self.ignore = frozenset(ignore or ())
        self.catch_errors = catch_errors
        self.source = _Source(files, refused)
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
                names, problems = self.source.glob(pattern)
            except (OSError, ValueError) as exc:
                names, problems = [], [str(exc)]
            for problem in problems:
                self.error(entry, "%s (include %s): the files it holds are not known" % (problem, stmt["args"][0]),
                           stmt["line"], located=False)
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
        for depth, _line in brace_depths(stream, 1):
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
        tokens, lex_error = tokenize(text, name)
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
          files=None, prefix=None, refused=None):
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
    :param refused: a list to which the paths the safe reader refused to read (FIFOs, devices,
        files past the size cap) are appended, for the caller to act on; errors say the same.
    :returns: ``{"status", "errors", "config"}`` as described in the module documentation.
    """
    parser = _Parser(path, comments, single_file, combine, ignore, catch_errors, files, prefix, refused)
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
