# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Turn a list of edit requests into new file contents, refusing any request the files do not match.

An edit names ``file`` and ``line`` (as the facts report them) and either

* ``directive`` with ``args``, ``target`` or only ``new_directive``: replace the arguments
  (and optionally the name) of that directive at that line - ``target`` computes the arguments
  for a pass directive or an upstream ``server`` (scheme, URI and parameters kept), a
  ``new_directive`` alone converts the pass directive keeping its target; ``old_args``
  optionally claims the current arguments;
* or ``set``: ``{name: value}`` set in the block the directive at that line opens (or is in,
  when it opens none): directives of that name directly in that block are replaced (a surplus
  removed), missing ones inserted after the block's last directive. ``directive`` optionally
  claims the directive at that line. Buffer settings get the companions nginx's checks need.

When the file does not hold what the request claims (the configuration changed since the
diagnosis), the whole plan is refused with :class:`EditError`. A request that is already
satisfied changes nothing (idempotence).

Standard library only (runs on the target).
"""
from __future__ import annotations

import os

from ansible_collections.badgateway.doctor.plugins.module_utils import _nginx_edit_values as values
from ansible_collections.badgateway.doctor.plugins.module_utils._nginx_edit import Document, EditError
from ansible_collections.badgateway.doctor.plugins.module_utils.nginx_parser import parse

_EDIT_KEYS = frozenset(("file", "line", "directive", "args", "new_directive", "old_args", "target", "set"))
_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789_")


def _scalar(value, where):
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, (int, float)):
        return "%g" % value if isinstance(value, float) else "%d" % value
    if isinstance(value, str):
        return value
    raise EditError("%s: %r is not a directive argument (string or number)" % (where, value))


def _arg_list(value, where):
    """A directive's arguments: a string is split on blanks, a list is taken as it is."""
    if isinstance(value, (list, tuple)):
        return [_scalar(v, where) for v in value]
    text = _scalar(value, where)
    args = text.split()
    if not args:
        raise EditError("%s: empty value" % where)
    return args


def _set_values(value, where):
    """``[[args], ...]``: one list per directive (a list of lists sets several of the same name)."""
    if isinstance(value, (list, tuple)) and value and all(isinstance(v, (list, tuple)) for v in value):
        return [_arg_list(v, where) for v in value]
    return [_arg_list(value, where)]


def _name(value, where):
    if not isinstance(value, str) or not value or not set(value.lower()) <= _NAME_CHARS:
        raise EditError("%s: %r is not a directive name" % (where, value))
    return value


def check_edit(index, edit):
    """Validate one request; returns it with its kind (``replace`` or ``set``) and clean values."""
    where = "edit %d" % (index + 1)
    if not isinstance(edit, dict):
        raise EditError("%s: %r is not a dict" % (where, edit))
    unknown = sorted(set(edit) - _EDIT_KEYS)
    if unknown:
        raise EditError("%s: unknown keys %s (known: %s)" % (where, ", ".join(unknown), ", ".join(sorted(_EDIT_KEYS))))
    path = edit.get("file")
    if not isinstance(path, str) or not os.path.isabs(path):
        raise EditError("%s: file must be an absolute path, not %r" % (where, path))
    line = edit.get("line")
    if isinstance(line, str) and line.isdigit():
        line = int(line)
    if not isinstance(line, int) or isinstance(line, bool) or line < 1:
        raise EditError("%s: line must be a positive number, not %r" % (where, line))
    where = "edit %d (%s:%d)" % (index + 1, path, line)
    spec = {"index": index, "file": path, "line": line, "where": where,
            "directive": _name(edit["directive"], where) if edit.get("directive") is not None else None}
    if edit.get("set") is not None:
        if any(edit.get(k) is not None for k in ("args", "new_directive", "old_args", "target")):
            raise EditError("%s: set cannot be combined with args, new_directive, old_args or target" % where)
        if not isinstance(edit["set"], dict) or not edit["set"]:
            raise EditError("%s: set must be a non-empty dict of directive names and values" % where)
        spec["kind"] = "set"
        spec["set"] = [(_name(k, where), _set_values(v, "%s, %s" % (where, k))) for k, v in edit["set"].items()]
        return spec
    if spec["directive"] is None:
        raise EditError("%s: give directive (with args, target or new_directive) or set" % where)
    if edit.get("args") is not None and edit.get("target") is not None:
        raise EditError("%s: give args or target, not both" % where)
    spec["kind"] = "replace"
    spec["new_directive"] = _name(edit["new_directive"], where) if edit.get("new_directive") is not None else None
    spec["args"] = _arg_list(edit["args"], where) if edit.get("args") is not None else None
    spec["old_args"] = _arg_list(edit["old_args"], where) if edit.get("old_args") is not None else None
    spec["target"] = edit.get("target")
    if spec["args"] is None and spec["target"] is None and spec["new_directive"] is None:
        raise EditError("%s: give args, target or new_directive" % where)
    return spec


class Plan(object):
    """The documents of one run and what each edit did to them."""

    def __init__(self, read, conf_path=None, page=None):
        self.read = read            # path -> bytes (the safe reader)
        self.conf_path = conf_path
        self.page = page or 4096
        self.docs = {}              # real path -> Document
        self.names = {}             # real path -> the path as the edits name it
        self.results = []
        self._combined = None

    # -------------------------------------------------------------- inputs

    def doc(self, path):
        real = os.path.realpath(path)
        doc = self.docs.get(real)
        if doc is None:
            doc = self.docs[real] = Document(path, self.read(real))
            self.names[real] = path
        return doc

    def combined(self):
        """The whole configuration as one tree (includes expanded), for inherited values."""
        if self._combined is None:
            if not self.conf_path:
                raise EditError("buffer settings need the main configuration file (conf_path) to see inherited values")
            payload = parse(self.conf_path, combine=True, catch_errors=True)
            errors = ["%s" % e.get("error") for e in payload.get("errors") or ()]
            if errors:
                raise EditError("cannot read the configuration %s to check buffer settings: %s"
                                % (self.conf_path, "; ".join(errors[:3])))
            self._combined = payload["config"][0]["parsed"]
        return self._combined

    # -------------------------------------------------------------- requests

    def apply(self, edits, lines=None):
        """Record every edit. ``lines``: optional ``{edit index: line}`` to read an edit at (a line
        moved by an earlier run of the same edit, see the run layer)."""
        specs = []
        for index, edit in enumerate(edits):
            spec = check_edit(index, edit)
            if lines and index in lines:
                spec["line"] = lines[index]
            doc = self.doc(spec["file"])
            result = self._set(doc, spec) if spec["kind"] == "set" else self._replace(doc, spec)
            result["line"] = spec["line"]
            self.results.append(result)
            specs.append((spec, doc))
        for result, (spec, doc) in zip(self.results, specs):
            result["new_line"] = doc.new_line(spec["line"])
        return self

    def changed_files(self):
        """``{real path: (old bytes, new bytes)}`` of the files whose text changes."""
        out = {}
        for real, doc in self.docs.items():
            data = doc.render()
            if data != doc.data:
                out[real] = (doc.data, data)
        return out

    def _intended(self, doc, stmt, spec, as_directive=None):
        """The (name, args) ``spec`` wants for ``stmt`` (read as ``as_directive``)."""
        current = as_directive or stmt.name
        new_name = spec["new_directive"] or spec["directive"]
        old = doc.args(stmt)
        if spec["args"] is not None:
            return new_name, spec["args"]
        try:
            if current == "server" and stmt.parent is not None and stmt.parent.name == "upstream":
                if spec["target"] is None or (spec["new_directive"] or "server") != "server":
                    raise ValueError("an upstream server takes only a new target")
                return "server", values.server_args(old, spec["target"])
            if current not in values.PASS_DIRECTIVES:
                raise ValueError("target and new_directive alone apply to pass directives (%s) and upstream servers, "
                                 "not %s" % (", ".join(values.PASS_DIRECTIVES), current))
            if len(old) != 1:
                raise ValueError("%s has %d arguments, expected one" % (current, len(old)))
            return new_name, [values.pass_arg(current, old[0], new_name, spec["target"])]
        except ValueError as exc:
            raise EditError("%s: %s" % (spec["where"], exc))

    def _replace(self, doc, spec):
        here = doc.stmts_at(spec["line"])
        found = [s for s in here if s.name == spec["directive"]
                 and (spec["old_args"] is None or doc.args(s) == spec["old_args"])]
        if len(found) > 1:
            raise EditError("%s: %d %s directives on this line; add old_args to say which"
                            % (spec["where"], len(found), spec["directive"]))
        if found and spec["args"] is not None and not spec["new_directive"] and values.buffer_family(spec["directive"]):
            # a buffer size is never changed alone: set it in its block, with what nginx's checks need beside it
            return self._set(doc, dict(spec, kind="set", set=[(spec["directive"], [spec["args"]])]))
        if found:
            stmt = found[0]
            name, args = self._intended(doc, stmt, spec)
            before = doc.describe(stmt)
            changed = doc.replace(stmt, name, args)
            return {"file": spec["file"], "line": spec["line"], "changed": changed, "before": before,
                    "after": " ".join([name] + args)}
        new_name = spec["new_directive"] or spec["directive"]
        for stmt in here:
            if stmt.name != new_name:
                continue
            try:
                name, args = self._intended(doc, stmt, spec, as_directive=new_name)
            except EditError:
                continue
            if name == stmt.name and args == doc.args(stmt) and (spec["new_directive"] or spec["args"] is not None
                                                                 or spec["target"] is not None):
                return {"file": spec["file"], "line": spec["line"], "changed": False,
                        "before": doc.describe(stmt), "after": doc.describe(stmt)}
        held = "; ".join(doc.describe(s) for s in here) or "no directive"
        raise EditError("%s: the line holds %s, not %s%s: the configuration changed since the diagnosis; refusing "
                        "to edit" % (spec["where"], held, spec["directive"],
                                     " " + " ".join(spec["old_args"]) if spec["old_args"] else ""))

    def _anchor(self, doc, spec):
        here = doc.stmts_at(spec["line"])
        if spec["directive"] is not None:
            here = [s for s in here if s.name == spec["directive"]]
        blocks = {}
        for stmt in here:
            owner, block = doc.block_of(stmt)
            blocks.setdefault(id(block), (stmt, owner, block))
        if len(blocks) != 1:
            if not blocks:
                raise EditError("%s: no %s at this line: the configuration changed since the diagnosis; refusing to "
                                "edit" % (spec["where"], spec["directive"] or "directive"))
            raise EditError("%s: the directives on this line are in different blocks; add directive to say which"
                            % spec["where"])
        return list(blocks.values())[0]

    def _set(self, doc, spec):
        stmt, owner, block = self._anchor(doc, spec)
        wanted = list(spec["set"])
        families = []
        for name, _vals in wanted:
            family = values.buffer_family(name)
            if family and family not in families:
                families.append(family)
        if families:
            wanted += self._buffer_companions(doc, stmt, owner, spec, wanted, families)
        changes = []
        for name, directives in wanted:
            existing = [s for s in block if s.name == name and id(s) not in doc.deleted]
            for k, args in enumerate(directives):
                if k < len(existing):
                    if doc.replace(existing[k], name, args):
                        changes.append("%s: %s -> %s" % (doc.where(existing[k]), doc.describe(existing[k]),
                                                         " ".join([name] + args)))
                else:
                    doc.insert(owner, block, name, args)
                    changes.append("add %s" % " ".join([name] + args))
            for surplus in existing[len(directives):]:
                changes.append("%s: remove %s" % (doc.where(surplus), doc.describe(surplus)))
                doc.delete(surplus)
        return {"file": spec["file"], "line": spec["line"], "changed": bool(changes), "changes": changes,
                "block": "%s %s" % (owner.name, " ".join(doc.args(owner))) if owner is not None else "top level",
                "set": dict((name, [" ".join(a) for a in vals]) for name, vals in wanted)}

    # -------------------------------------------------------------- buffers

    def _chain(self, doc, anchor, owner):
        """Levels (combined-tree statements with blocks) from the outermost down to the edited block."""
        real = os.path.realpath(doc.path)
        stack = [(iter(self.combined()), [])]
        while stack:
            iterator, ancestors = stack[-1]
            node = next(iterator, None)
            if node is None:
                stack.pop()
                continue
            same_file = node.get("file") in (doc.path, real) or os.path.realpath(node.get("file") or "") == real
            if same_file and node.get("line") == anchor.line and node.get("directive") == anchor.name:
                return ancestors + [node] if owner is anchor else ancestors
            if "block" in node:
                stack.append((iter(node["block"]), ancestors + [node]))
        raise EditError("%s:%s: %s is not part of the configuration %s (not included from it); cannot check the buffer "
                        "settings it inherits" % (doc.path, anchor.line, anchor.name, self.conf_path))

    @staticmethod
    def _own(level):
        own = {}
        for node in level.get("block") or ():
            own[node.get("directive")] = node.get("args") or []
        return own

    def _buffer_companions(self, doc, anchor, owner, spec, wanted, families):
        chain = self._chain(doc, anchor, owner)
        level = chain[-1] if chain and owner is not None else None
        extra = []
        for family in families:
            state = values.BufferState(family, self.page)
            for node in chain:
                state = state.child(self._own(node))
            asked = dict((name, vals[-1]) for name, vals in wanted if values.buffer_family(name) == family)
            if level is not None:
                for node in level.get("block") or ():
                    if node.get("directive") in asked and node.get("file") not in (doc.path, os.path.realpath(doc.path)):
                        raise EditError("%s: %s is set in this block by %s:%s (an included file); change it there"
                                        % (spec["where"], node.get("directive"), node.get("file"), node.get("line")))
            try:
                added = values.complete_buffers(family, asked, state, spec["where"])
            except ValueError as exc:
                raise EditError(str(exc))
            after = state.child(dict(asked, **added))
            if level is not None:
                self._check_nested(level, after, spec)
            extra += [(name, [args]) for name, args in sorted(added.items())]
        return extra

    def _check_nested(self, level, state, spec):
        """Blocks inside the edited one inherit the new values: each must still pass nginx's checks."""
        stack = [(level, state)]
        while stack:
            node, node_state = stack.pop()
            for child in node.get("block") or ():
                if "block" not in child or child.get("directive") not in ("location", "if", "limit_except"):
                    continue
                child_state = node_state.child(self._own(child))
                where = "%s:%s (%s %s)" % (child.get("file"), child.get("line"), child.get("directive"),
                                           " ".join(child.get("args") or []))
                problems = child_state.problems(where)
                if problems:
                    raise EditError("%s: the block at %s inherits the new values and sets its own: %s; set the buffers "
                                    "there too" % (spec["where"], where, "; ".join(problems)))
                stack.append((child, child_state))
