#!/usr/bin/env bash
# What ran on the lent GPU machine (issue 18): its packages, the cuda cases on the device, the
# suite, and the GPU benchmarks. Usage: benchmarks/on_gpu.sh STEP... where STEP is one of
# probe, cases, suite, bench, network, train; logs go to $OUT (or /tmp/on_gpu).
set -u
OUT=${OUT:-/tmp/on_gpu}; mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 PYTHONPATH=$PWD:$PWD/benchmarks
started=$SECONDS
# The image's numba-cuda 0.30.4 uses np.row_stack, which its numpy 2.5.2 no longer has:
# carried wheels (numpy 2.4.6, as on CI) go first on the path.
if [ -d .whl ] && [ ! -d /tmp/site ]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .whl/*.whl
fi
[ -d /tmp/site ] && export PYTHONPATH=/tmp/site:$PYTHONPATH
step() { echo "=== $1 (t=$((SECONDS - started)) s)"; }
for what in "$@"; do
  case $what in
    probe)
      step probe
      nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm,clocks.max.mem \
        --format=csv | tee "$OUT/probe.log"
      python3 -m pip list 2>/dev/null | grep -iE "^(numba|numba-cuda|llvmlite|sympy|numpy|click|cupy|torch|jax|pytest|hypothesis|pyarrow|dask|scikit-learn|pandas|pytest-xdist) " | tee -a "$OUT/probe.log"
      python3 -m pip install -q --no-deps --no-build-isolation --no-index -e . 2>&1 | tail -2
      python3 -c "from numba import cuda; print('cuda available', cuda.is_available()); d=cuda.get_current_device(); print(d.name, d.compute_capability)" 2>&1 | tee -a "$OUT/probe.log" ;;
    cases)
      step cases
      NUMBA_ENABLE_CUDASIM=0 timeout 300 python3 -m pytest -q -p no:cacheprovider -rf \
        tests/cuda_cases.py tests/test_cuda_ptx.py 2>&1 | tee "$OUT/cases.log" | tail -60 ;;
    suite)
      step suite
      timeout 420 python3 -m pytest -q -p no:cacheprovider -n 12 -m "not dask" \
        --deselect tests/test_cuda.py::test_cuda_backend_on_the_simulator \
        --deselect tests/test_cuda.py::test_cuda_backend_on_the_gpu 2>&1 \
        | tee "$OUT/suite.log" | grep -E "FAILED|ERROR|passed|failed" | head -60 ;;
    bench)
      step bench
      timeout 180 python3 benchmarks/gpu.py 2>&1 | tee "$OUT/gpu.log" | tail -12 ;;
    network)
      step network
      for dtype in float64 float32; do
        for batch in 256 4096; do
          timeout 100 python3 benchmarks/gpu_network.py --repeats 5 --batch $batch \
            --dtype $dtype 2>&1 | tee -a "$OUT/network.log" | tail -4
        done
      done ;;
    train)
      step train
      timeout 150 python3 benchmarks/gpu_train.py --repeats 3 2>&1 | tee "$OUT/train.log" | tail -20 ;;
  esac
done
step done
