"""Writing results: mesh files (OBJ, PLY), IUV and overlay images, per-image JSON, ONNX models.

Example::

    from decomr.export import export_onnx, write_obj
    write_obj("mesh.obj", pred.vertices[0], pred.faces)
    export_onnx(predictor, "decomr.onnx")

Modules: :mod:`~decomr.export.mesh` (OBJ/PLY writers), :mod:`~decomr.export.images` (PNG, IUV
encoding), :mod:`~decomr.export.prediction` (the files of ``decomr predict``),
:mod:`~decomr.export.onnx` (ONNX export and onnxruntime check), :mod:`~decomr.cli.export`
(``decomr export-onnx``). The ONNX module imports nothing beyond torch until used.
"""
from decomr.export.images import decode_iuv, encode_iuv, read_iuv_png, write_iuv_png, write_png
from decomr.export.mesh import opencv_to_opengl, write_obj, write_ply
from decomr.export.onnx import ONNX_OUTPUTS, OnnxExport, compare_onnx, export_onnx, onnx_session, run_onnx
from decomr.export.prediction import OUTPUTS, WrittenFiles, prediction_record, write_prediction

__all__ = [
    "write_obj", "write_ply", "opencv_to_opengl",
    "write_png", "encode_iuv", "decode_iuv", "write_iuv_png", "read_iuv_png",
    "OUTPUTS", "WrittenFiles", "prediction_record", "write_prediction",
    "ONNX_OUTPUTS", "OnnxExport", "export_onnx", "onnx_session", "run_onnx", "compare_onnx",
]
