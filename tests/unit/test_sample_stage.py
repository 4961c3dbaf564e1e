"""The one actor stage (read rows in, result rows out): every row comes out once, in order, whatever happened to
it before; a row that failed at the read is passed through, never sent, and never breaks its batch."""

from __future__ import annotations

import asyncio

import pyarrow as pa

from benchmarks.time_to_verdict import make_workload
from ray_eval.config import OpenAIEngineConfig, PreprocessConfig, SamplingConfig, ScoringConfig
from ray_eval.data.dataset import iter_raw_rows, scan_dataset
from ray_eval.engines import EngineSpec
from ray_eval.pipeline.sample_stage import SampleStage
from ray_eval.records import READ_SCHEMA, RESULT_SCHEMA, invalid_row, sample_row
from ray_eval.testing import ScriptedOpenAIServer


def test_a_batch_with_a_row_that_failed_at_the_read_comes_out_whole(tmp_path) -> None:
    suite = make_workload(tmp_path, cases=3)
    scan = scan_dataset(suite, "auto", tmp_path)
    rows = [sample_row(scan.reader.to_sample(raw), scan.suite, scan.path.name, raw.row_number)
            for raw in iter_raw_rows(scan.reader, scan.chunks)]
    rows.insert(1, invalid_row(scan.suite, scan.path.name, 9, "broken", "question: missing"))
    with ScriptedOpenAIServer() as server:  # answers "A"
        engine = EngineSpec(OpenAIEngineConfig(base_url=server.base_url, model=server.model), None, 4)
        stage = SampleStage(PreprocessConfig(), False, engine, SamplingConfig(), {scan.suite: ScoringConfig()})
        out = asyncio.run(stage(pa.Table.from_pylist(rows, schema=READ_SCHEMA)))
        sent = server.requests
    assert out.schema == RESULT_SCHEMA
    assert out["sample_id"].to_pylist() == ["case-0000", "broken", "case-0001", "case-0002"]
    assert out["status"].to_pylist() == ["ok", "error", "ok", "ok"]
    assert out["error_stage"].to_pylist()[1] == "read" and out["response"].to_pylist()[1] is None
    assert sorted(request.sample_id for request in sent) == ["case-0000", "case-0001", "case-0002"]
    expected = [1.0 if answer == "A" else 0.0 for answer in out["answer"].to_pylist()]
    expected[1] = 0.0  # the failed row scores nothing
    assert out["score"].to_pylist() == expected
