#!/bin/sh
# The fleet test's "snapshot": records, on the host it runs on, when it ran (ms since the
# epoch) and the state of every task of the service ($1), then waits $3 seconds (a long
# snapshot), appending one line to $2.
now=$(date +%s%3N)
states=''
for dir in /proc/[0-9]*; do
  [ "$(cat "$dir/comm" 2>/dev/null)" = "$1" ] || continue
  for task in "$dir"/task/*; do
    stat=$(cat "$task/stat" 2>/dev/null) || continue
    rest=${stat##*) }
    states="$states${rest%% *}"
  done
done
echo "$now $states" >> "$2"
sleep "${3:-0}"
