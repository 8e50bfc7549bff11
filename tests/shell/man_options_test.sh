#!/usr/bin/env bash
# Each program's --help against its man page: every --option the program
# prints must be in the page in bold (*--option*, its entry or synopsis), and
# every bold --option of the page must still be one the program prints.
# The --help text is read from the built programs at every run, so an option
# added to a program (say `sandnetctl setup --create`) fails this test until
# the page documents it: then update docs/man/<program>.*.scd too.
# usage: man_options_test.sh MAN_SOURCE_DIR SANDNETD SANDNETCTL SANDNET_OCI_HOOK
set -euo pipefail
man_dir=$1 sandnetd=$2 sandnetctl=$3 hook=$4

options() { grep -oE -- '--[a-z][a-z0-9-]*' | sort -u; }
page_options() { grep -oE -- '\*--[a-z][a-z0-9-]*\*' "$1" | tr -d '*' | sort -u; }

failed=0
check() {
  local page=$1 help=$2
  local printed documented
  printed=$(options <<<"$help")
  documented=$(page_options "$page")
  if [[ -z $printed ]]; then
    echo "FAIL: no --option in the --help text for $page" >&2
    failed=1
  fi
  local missing extra
  missing=$(comm -23 <(echo "$printed") <(echo "$documented"))
  extra=$(comm -13 <(echo "$printed") <(echo "$documented"))
  if [[ -n $missing ]]; then
    echo "FAIL: $(basename "$page") lacks options its program's --help prints:" $missing >&2
    failed=1
  fi
  if [[ -n $extra ]]; then
    echo "FAIL: $(basename "$page") documents options its program's --help does not print:" $extra >&2
    failed=1
  fi
  echo "$(basename "$page"): $(wc -w <<<"$printed") options checked"
}

check "$man_dir/sandnetd.8.scd" "$("$sandnetd" --help)"
# sandnetctl's cni mode has a usage of its own.
check "$man_dir/sandnetctl.1.scd" "$("$sandnetctl" --help; "$sandnetctl" cni --help)"
check "$man_dir/sandnet-oci-hook.1.scd" "$("$hook" --help)"
exit $failed
