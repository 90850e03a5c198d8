#!/bin/sh
# usage: cg.sh old|new case placement -> Ir per sign_request call
cd "$(dirname "$0")/../.."
ir() { PYTHONHASHSEED=0 valgrind --tool=callgrind --callgrind-out-file=/tmp/cg.out.$$ .venv/bin/python notes/sig13-measure/callgrind_sign.py "$1" "$2" "$3" "$4" 2>&1 | grep -o 'Collected : [0-9]*' | grep -o '[0-9]*'; rm -f /tmp/cg.out.$$; }
a=$(ir "$1" "$2" "$3" 0); b=$(ir "$1" "$2" "$3" 1000)
echo "$1 $2 $3: $(( (b - a) / 1000 )) Ir/call"
