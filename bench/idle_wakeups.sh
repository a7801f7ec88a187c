#!/bin/bash
# Context switches and CPU ticks per process of an idle WRD desktop over 60 s, beside a running
# peerbench idle scenario (docs/performance.md, *An idle desktop with a client attached*):
#   peerbench ... --scenarios idle --reps 1 --window 80 > LOG &  bench/idle_wakeups.sh LOG OUT
# DELAY: seconds to wait after the client attached (default 12).
log=$1; out=$2
until grep -q "'processes':" $log; do sleep 1; done
sleep ${DELAY:-12}
procs=$(grep -o "'processes': {[^}]*}" $log | head -1)
host=$(echo "$procs" | grep -o "'session_host': [0-9]*" | grep -o "[0-9]*$")
xvfb=$(echo "$procs" | grep -o "'xvfb': [0-9]*" | grep -o "[0-9]*$")
rdp=$(echo "$procs" | grep -o "'rdpserver': [0-9]*" | grep -o "[0-9]*$")
daphne=$(echo "$procs" | grep -o "'daphne': [0-9]*" | grep -o "[0-9]*$")
snap() { for p in $host $(pgrep -P $host | grep -v "^$xvfb$") $rdp $daphne; do
  sw=0; tk=0
  for t in /proc/$p/task/*; do
    s=$(awk '/ctxt_switches/{s+=$2} END{print s}' $t/status 2>/dev/null); sw=$((sw+${s:-0}))
    k=$(sed 's/.*) //' $t/stat 2>/dev/null | awk '{print $12+$13}'); tk=$((tk+${k:-0}))
  done
  echo "$p $(cat /proc/$p/comm) $sw $tk"; done; }
snap > $out.a; sleep 60; snap > $out.b
paste -d" " $out.a $out.b | awk '{printf "%-8s %-14s switches %6d ticks %4d\n", $1, $2, $7-$3, $8-$4}' > $out
