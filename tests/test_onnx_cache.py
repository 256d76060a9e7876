"""How medsearch opens onnxruntime sessions (medsearch/models/onnx_cache.py)."""

from __future__ import annotations

from medsearch.models.onnx_cache import open_session


def test_sessions_let_idle_threads_sleep(tmp_path):
    """A spinning thread pool kept the cores busy after each operator, starving what a text query runs beside the
    encode (the full-text thread) and after it (the ANN search): both pools are told not to spin."""
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "identity",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(tmp_path / "identity.onnx"))
    options = open_session(tmp_path / "identity.onnx").get_session_options()
    assert options.get_session_config_entry("session.intra_op.allow_spinning") == "0"
    assert options.get_session_config_entry("session.inter_op.allow_spinning") == "0"
