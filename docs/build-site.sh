#!/usr/bin/env bash
# The collection's docs site, built with antsibull-docs (`make docs`), and its docs linter.
#
#   docs/build-site.sh           lint + site  -> docs/_build/html/index.html (git-ignored)
#   docs/build-site.sh --lint    only `antsibull-docs lint-collection-docs` (a stage of `make test`)
#
# The collection is built and installed from its tarball first, so the docs show exactly what a
# user installs (galaxy.yml's build_ignore applied). Tools: docs/requirements-site.txt, in their own
# venv (tests/compat/toolvenv.sh). Offline, Sphinx cannot fetch the inventories of docs.ansible.com
# (intersphinx): links into Ansible's own docs then stay plain text, and those warnings — and only
# those — are tolerated; any other warning fails the build.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
mode=${1:-all}
venv=$(bash "$repo/tests/compat/toolvenv.sh" docs "$repo/docs/requirements-site.txt")
export PATH="$venv/bin:$PATH" ANSIBLE_NOCOLOR=1
work=$(mktemp -d /tmp/bgd-docs.XXXXXX)
trap 'rm -rf "$work"' EXIT

export ANSIBLE_COLLECTIONS_PATH=$work/coll
ansible-galaxy collection build --force --output-path "$work/dist" "$repo" >/dev/null
ansible-galaxy collection install --force -p "$work/coll" "$work"/dist/*.tar.gz >/dev/null
coll=$work/coll/ansible_collections/badgateway/doctor

echo "docs: antsibull-docs lint-collection-docs (modules, roles, plugin docs, references)"
antsibull-docs lint-collection-docs --plugin-docs --validate-collection-refs all \
  --disallow-unknown-collection-refs --check-extra-docs-refs "$coll"
echo "docs: lint clean"
[ "$mode" = "--lint" ] && exit 0

out=$repo/docs/_build
rm -rf "$out"
mkdir -p "$out/src"
chmod go-w "$out/src"       # antsibull-docs wants a directory only its owner can write
antsibull-docs sphinx-init --use-current --fail-on-error --dest-dir "$out/src" \
  --project badgateway.doctor --title "badgateway.doctor" badgateway.doctor >/dev/null
# build.sh (generated) runs `antsibull-docs collection --fail-on-error` and `sphinx-build -W`; the
# warnings are judged below instead (offline, the intersphinx ones cannot be avoided)
sed -i 's/ -W --keep-going$/ --keep-going/' "$out/src/build.sh"
bash "$out/src/build.sh" > "$out/build.log" 2>&1 || { tail -40 "$out/build.log"; exit 1; }
mv "$out/src/build/html" "$out/html"
other=$(grep -E 'WARNING|ERROR' "$out/build.log" \
  | grep -v -E "failed to reach any of the inventories|undefined label: '(action_plugins|common_return_values|ansible_configuration_settings|playbooks_vars_facts|ansible_collections\.ansible\.builtin\.[a-z_]+(_module|_lookup|_filter|_test)?)'" || true)
if [ -n "$other" ]; then
  echo "docs: Sphinx warnings beyond the offline intersphinx ones:"
  echo "$other"
  exit 1
fi
pages=$(find "$out/html/collections" -name '*.html' | wc -l)
echo "docs: site built: $out/html/index.html ($pages collection pages; log $out/build.log)"
