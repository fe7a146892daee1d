#!/usr/bin/env bash
# Instruction counts of BENCHMARKS.md, reproduced with callgrind in one command:
#
#   bash benches/callgrind.sh            # every figure (~2 minutes)
#   bash benches/callgrind.sh cycle-204  # only the modes given (see `instructions list`)
#
# Each figure is one mode of the `instructions` bench binary (benches/instructions.rs), run under
# `valgrind --tool=callgrind` twice: with N iterations and with 0. Both runs do the same setup and one warm-up
# iteration, so (Ir(N) - Ir(0)) / N is the cost of one iteration, setup excluded. The whole chat is also split
# into the simulator's share (instructions inside `sim::Server` calls, via --toggle-collect), the
# client's (inside `Session` calls and their drop) and the rest (the driver: `sim::Pair`'s ticket map, timer
# heap and dirty list, and the bench's application). Allocation counts come from the binary's counting allocator.
set -euo pipefail
cd "$(dirname "$0")/.."

command -v valgrind >/dev/null || { echo "valgrind is needed (apt-get install valgrind)" >&2; exit 1; }

bin=$(cargo bench --bench instructions --no-run --message-format=json 2>/dev/null |
  sed -n 's/.*"executable":"\([^"]*\)".*/\1/p' | tail -n 1)
[ -x "$bin" ] || { echo "could not build the instructions bench" >&2; exit 1; }

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

# Instruction total of one callgrind run: `ir MODE N [valgrind options...]`.
ir() {
  local mode=$1 n=$2
  shift 2
  local file="$out/cg.$RANDOM$RANDOM"
  valgrind --tool=callgrind --callgrind-out-file="$file" "$@" "$bin" "$mode" "$n" >"$file.stdout" 2>/dev/null
  sed -n 's/^\(summary\|totals\): *\([0-9]*\).*/\2/p' "$file" | head -n 1
}

# Allocations per iteration, as the binary prints them (run natively).
allocs() {
  "$bin" "$1" "$2" | sed -n 's/.*: \([0-9.]*\) allocs\/iteration/\1/p'
}

# Per-iteration instructions of MODE over N iterations (extra args: valgrind options).
per_iter() {
  local mode=$1 n=$2
  shift 2
  local a b
  a=$(ir "$mode" "$n" "$@")
  b=$(ir "$mode" 0 "$@")
  echo $(((a - b) / n))
}

iterations() {
  case $1 in
    decode-*:mixed-100) echo 20 ;;
    decode-*) echo 200 ;;
    chat) echo 50 ;;
    *) echo 2000 ;;
  esac
}

# sim::Pair runs every simulator call inside `sim::pair::server_side` and every client call inside
# `sim::pair::client_side` (never inlined, never nested), so each share is what callgrind collects inside one.
sim_toggles=(--collect-atstart=no "--toggle-collect=liveagent::sim::pair::server_side*")
client_toggles=(--collect-atstart=no "--toggle-collect=liveagent::sim::pair::client_side*")

modes=("$@")
if [ ${#modes[@]} -eq 0 ]; then
  mapfile -t modes < <("$bin" list)
fi

declare -A typed_ir=() value_ir=()
printf '%-80s %12s %10s\n' "figure" "Ir/iter" "allocs"
for mode in "${modes[@]}"; do
  case $mode in
    idle-session)
      "$bin" idle-session
      continue
      ;;
  esac
  n=$(iterations "$mode")
  i=$(per_iter "$mode" "$n")
  printf '%-80s %12s %10s\n' "$mode" "$i" "$(allocs "$mode" "$n")"
  case $mode in
    decode-typed:*) typed_ir[${mode#decode-typed:}]=$i ;;
    decode-value:*) value_ir[${mode#decode-value:}]=$i ;;
    chat)
      s=$(per_iter chat "$n" "${sim_toggles[@]}")
      c=$(per_iter chat "$n" "${client_toggles[@]}")
      printf '  %-78s %12s\n' "chat: simulator (inside sim::Server calls, its drop)" "$s"
      printf '  %-78s %12s\n' "chat: client (inside Session calls, their drop)" "$c"
      printf '  %-78s %12s\n' "chat: driver (sim::Pair: tickets, timer heap; the bench's app)" "$((i - s - c))"
      ;;
  esac
done

if [ ${#typed_ir[@]} -gt 0 ]; then
  echo
  printf '%-80s %10s %10s %6s\n' "decode body" "typed Ir" "Value Ir" "ratio"
  for body in "${!typed_ir[@]}"; do
    v=${value_ir[$body]:-}
    [ -n "$v" ] || continue
    printf '%-80s %10s %10s %6s\n' "$body" "${typed_ir[$body]}" "$v" \
      "$(awk -v t="${typed_ir[$body]}" -v v="$v" 'BEGIN { printf "%.2f", t / v }')"
  done | sort
fi
