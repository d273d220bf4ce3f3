#!/bin/bash
# One device call: build llama-bench from the vendored llama.cpp, write the sparse GGUFs, run the
# battery (tests in priority order, each under `timeout` within DEADLINE seconds), JSONL to $OUT.
#   bash battery.sh LLAMA_CPP_DIR MANIFEST_DIR DEADLINE_S
# Each battery line: GROUP FILE FLAGS... (llama-bench flags besides -fa 1 -lm none -o jsonl).
set -u
LC=$1; MAN=$2; DEADLINE=$3; START=$(date +%s); G=/tmp/gguf; mkdir -p $G
nvidia-smi --query-gpu=timestamp,clocks.sm,clocks.mem,power.draw,temperature.gpu --format=csv -l 1 > $OUT/clocks.csv &
(nproc; lscpu | head -20; free -g; nvidia-smi; df -h /tmp) > $OUT/machine.txt 2>&1
(for f in $MAN/*.json; do python3 $(dirname $0)/write_gguf.py $f $G; done) > $OUT/gen.log 2>&1 &
GEN=$!
cmake -S $LC -B /tmp/build -DGGML_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90 -DBUILD_SHARED_LIBS=OFF -DLLAMA_CURL=OFF \
  -DLLAMA_OPENSSL=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=OFF \
  -DLLAMA_BUILD_APP=OFF -DCMAKE_BUILD_TYPE=Release > $OUT/build.log 2>&1
cmake --build /tmp/build -j16 --target llama-bench >> $OUT/build.log 2>&1 || { tail -50 $OUT/build.log; exit 1; }
wait $GEN; echo "built and generated at $(( $(date +%s) - START )) s"; df -h /tmp | tail -1
while read -r grp file flags; do
  [ -z "$grp" ] || [ "${grp:0:1}" = "#" ] && continue
  left=$(( DEADLINE - ($(date +%s) - START) ))
  [ $left -lt 15 ] && { echo "out of time before $grp $file $flags"; break; }
  echo "== $(( $(date +%s) - START ))s $grp $file $flags"
  timeout $left /tmp/build/bin/llama-bench -m $G/$file -fa 1 -lm none -o jsonl $flags 2>>$OUT/bench.err \
    | sed -u "s/^{/{\"group\": \"$grp\", \"file\": \"$file\", /" >> $OUT/rows.jsonl
  echo "rc ${PIPESTATUS[0]} rows $(wc -l < $OUT/rows.jsonl)"
done < $(dirname $0)/${BATTERY:-battery.txt}
kill %1 2>/dev/null; true
