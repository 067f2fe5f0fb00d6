// ONNX Runtime peer for bench/model_bench.py: loads model.onnx (exported by torch.onnx.export
// from the same weights), runs the same token ids at each shape, prints JSON lines.
//   NODE_PATH=<folder with onnxruntime-node> node model_ort_bench.js MODEL.onnx THREADS SHAPES SECONDS
'use strict';
const ort = require('onnxruntime-node');

function makeInputs(batch, len) {
  const ids = new BigInt64Array(batch * len);
  const mask = new BigInt64Array(batch * len).fill(1n);
  for (let b = 0; b < batch; ++b) {
    for (let i = 0; i < len; ++i) {
      let id = 1000 + ((i * 7919 + b * 104729) % 29000);
      if (i === 0) id = 101;
      if (i === len - 1 && len > 1) id = 102;
      ids[b * len + i] = BigInt(id);
    }
  }
  return {
    input_ids: new ort.Tensor('int64', ids, [batch, len]),
    attention_mask: new ort.Tensor('int64', mask, [batch, len]),
  };
}

async function main() {
  const [model, threadsArg, shapesArg, secondsArg] = process.argv.slice(2);
  const threads = Number(threadsArg), seconds = Number(secondsArg || 3);
  const t0 = process.hrtime.bigint();
  const session = await ort.InferenceSession.create(model, {
    intraOpNumThreads: threads, interOpNumThreads: 1, executionMode: 'sequential',
    graphOptimizationLevel: 'all',
  });
  await session.run(makeInputs(1, 8));
  const loadMs = Number(process.hrtime.bigint() - t0) / 1e6;
  console.log(JSON.stringify({ engine: 'ort', load_ms: loadMs, version: require('onnxruntime-node/package.json').version }));
  for (const shape of shapesArg.split(',')) {
    const [batch, len] = shape.split('x').map(Number);
    const feeds = makeInputs(batch, len);
    await session.run(feeds);  // warm-up
    const ms = [], cpu = [];
    const start = Date.now();
    while (ms.length < 3 || ((Date.now() - start) / 1000 < seconds && ms.length < 1000)) {
      const t = process.hrtime.bigint();
      const c = process.cpuUsage();
      await session.run(feeds);
      const dc = process.cpuUsage(c);
      cpu.push((dc.user + dc.system) / 1e3);
      ms.push(Number(process.hrtime.bigint() - t) / 1e6);
    }
    ms.sort((a, b) => a - b);
    cpu.sort((a, b) => a - b);
    const mean = ms.reduce((a, b) => a + b, 0) / ms.length;
    console.log(JSON.stringify({ engine: 'ort', batch, len, threads, median_ms: ms[ms.length >> 1], min_ms: ms[0], mean_ms: mean, reps: ms.length, cpu_ms: cpu[cpu.length >> 1] }));
  }
}

main().catch((e) => { console.error(e); process.exit(1); });
