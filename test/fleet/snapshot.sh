#!/bin/sh
# The fleet test's "snapshot": records, on the host it runs on, when it ran (ms since the
# epoch) and the state of every task of the service ($1), then waits $3 seconds (a long
# snapshot), appending one line to $2. Reads with the shell's own `read` (no process per
# file), so that it takes milliseconds, not the half second a `cat` per process took.
now=$(date +%s%3N)
states=''
for dir in /proc/[0-9]*; do
  comm=''
  read -r comm < "$dir/comm" 2>/dev/null || continue
  [ "$comm" = "$1" ] || continue
  for task in "$dir"/task/*; do
    stat=''
    read -r stat < "$task/stat" 2>/dev/null || continue
    rest=${stat##*) }
    states="$states${rest%% *}"
  done
done
echo "$now $states" >> "$2"
sleep "${3:-0}"
