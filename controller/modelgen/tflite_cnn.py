"""Build the generated CNN as a TFLite flatbuffer, without TensorFlow.

The model is written with the LiteRT schema's object API (``ai_edge_litert.schema_py_generated``)
and ``flatbuffers``, so the controller needs neither TensorFlow nor a converter, and the bytes
depend only on the weights. It takes the ONNX model's NCHW input and transposes to NHWC as its
first op, so one input array feeds both runtimes and outputs can be compared element-wise.

Weight buffers are 16-byte aligned inside the file, as the TFLite converter does, so
runtimes that map the file can use the weights in place.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import flatbuffers
import numpy as np
from ai_edge_litert import schema_py_generated as tfl

from .weights import CnnWeights

SCHEMA_VERSION = 3
FILE_IDENTIFIER = b"TFL3"
BUFFER_ALIGNMENT = 16
DESCRIPTION = "rigbench.modelgen synthetic CNN"


class _AlignedBufferT(tfl.BufferT):
    """A Buffer whose data vector starts on a 16-byte boundary (the stock Pack aligns to 1)."""

    def Pack(self, builder: flatbuffers.Builder) -> int:  # noqa: N802 - flatbuffers' name
        data_off = None
        if self.data is not None:
            payload = np.ascontiguousarray(self.data, dtype=np.uint8).tobytes()
            builder.StartVector(1, len(payload), BUFFER_ALIGNMENT)
            builder.head = builder.head - len(payload)
            builder.Bytes[builder.head : builder.head + len(payload)] = payload
            builder.vectorNumElems = len(payload)
            data_off = builder.EndVector()
        tfl.BufferStart(builder)
        if data_off is not None:
            tfl.BufferAddData(builder, data_off)
        return tfl.BufferEnd(builder)


@dataclass
class _Subgraph:
    """Accumulates tensors, buffers, op codes and ops in a fixed order."""

    batch_dynamic: bool
    tensors: list[tfl.TensorT] = field(default_factory=list)
    buffers: list[tfl.BufferT] = field(default_factory=lambda: [tfl.BufferT()])  # 0 = empty
    opcodes: list[int] = field(default_factory=list)
    ops: list[tfl.OperatorT] = field(default_factory=list)

    def tensor(self, name: str, shape: tuple[int, ...], data: np.ndarray | None = None) -> int:
        t = tfl.TensorT()
        t.name = name
        t.shape = list(shape)
        if data is None:
            t.type = tfl.TensorType.FLOAT32
            if self.batch_dynamic:
                # Activations carry the batch dimension first; -1 marks it resizable.
                t.shapeSignature = [-1, *shape[1:]]
        else:
            data = np.ascontiguousarray(data)
            assert data.shape == tuple(shape), (name, data.shape, shape)
            t.type = {
                np.dtype(np.float32): tfl.TensorType.FLOAT32,
                np.dtype(np.int32): tfl.TensorType.INT32,
            }[data.dtype]
            buf = _AlignedBufferT()
            buf.data = np.frombuffer(data.astype(data.dtype.newbyteorder("<")).tobytes(), np.uint8)
            t.buffer = len(self.buffers)
            self.buffers.append(buf)
        self.tensors.append(t)
        return len(self.tensors) - 1

    def op(
        self,
        code: int,
        inputs: list[int],
        outputs: list[int],
        options_type: int = 0,
        options: object | None = None,
    ) -> int:
        if code not in self.opcodes:
            self.opcodes.append(code)
        o = tfl.OperatorT()
        o.opcodeIndex = self.opcodes.index(code)
        o.inputs, o.outputs = inputs, outputs
        o.builtinOptionsType, o.builtinOptions = options_type, options
        self.ops.append(o)
        return outputs[0]


def _conv_options(stride: int = 1, relu: bool = False) -> tfl.Conv2DOptionsT:
    o = tfl.Conv2DOptionsT()
    o.padding, o.strideH, o.strideW = tfl.Padding.SAME, stride, stride
    o.fusedActivationFunction = (
        tfl.ActivationFunctionType.RELU if relu else tfl.ActivationFunctionType.NONE
    )
    return o


def _dw_options(relu: bool) -> tfl.DepthwiseConv2DOptionsT:
    o = tfl.DepthwiseConv2DOptionsT()
    o.padding, o.strideH, o.strideW, o.depthMultiplier = tfl.Padding.SAME, 1, 1, 1
    o.fusedActivationFunction = (
        tfl.ActivationFunctionType.RELU if relu else tfl.ActivationFunctionType.NONE
    )
    return o


def _pool_options() -> tfl.Pool2DOptionsT:
    o = tfl.Pool2DOptionsT()
    o.padding, o.strideH, o.strideW, o.filterHeight, o.filterWidth = tfl.Padding.VALID, 2, 2, 2, 2
    return o


def build_tflite(
    weights: CnnWeights, *, input_name: str, output_name: str, dynamic_batch: bool = False
) -> bytes:
    """Serialize the same network, with the same weights, as a TFLite model.

    Layouts differ from ONNX: conv filters are OHWI, depthwise filters ``[1,kH,kW,C]``,
    activations NHWC. Conv + ReLU uses TFLite's fused activation, which is an exact
    ``max(0, x)`` like ONNX's separate Relu (ORT fuses it the same way).

    With ``dynamic_batch`` the batch dimension of every activation gets shape signature -1,
    so a caller must resize the input before allocating, as with the ONNX variant.
    """
    spec = weights.spec
    g = _Subgraph(batch_dynamic=dynamic_batch)
    n, c_in, hh, ww = spec.input_shape
    x = g.tensor(input_name, (n, c_in, hh, ww))
    perm = g.tensor("to_nhwc.perm", (4,), np.array([0, 2, 3, 1], np.int32))
    h = g.op(
        tfl.BuiltinOperator.TRANSPOSE,
        [x, perm],
        [g.tensor("to_nhwc", (n, hh, ww, c_in))],
        tfl.BuiltinOptions.TransposeOptions,
        tfl.TransposeOptionsT(),
    )
    for i, (bs, bw) in enumerate(zip(spec.blocks, weights.blocks, strict=True)):
        c = bs.out_channels
        conv_w = g.tensor(
            f"block{i}.conv.weight", (c, 3, 3, bw.conv_w.shape[1]), bw.conv_w.transpose(0, 2, 3, 1)
        )
        conv_b = g.tensor(f"block{i}.conv.bias", (c,), bw.conv_b)
        h = g.op(
            tfl.BuiltinOperator.CONV_2D,
            [h, conv_w, conv_b],
            [g.tensor(f"block{i}.relu1", (n, hh, ww, c))],
            tfl.BuiltinOptions.Conv2DOptions,
            _conv_options(relu=True),
        )
        dw_w = g.tensor(f"block{i}.dwconv.weight", (1, 3, 3, c), bw.dw_w.transpose(1, 2, 3, 0))
        dw_b = g.tensor(f"block{i}.dwconv.bias", (c,), bw.dw_b)
        h = g.op(
            tfl.BuiltinOperator.DEPTHWISE_CONV_2D,
            [h, dw_w, dw_b],
            [g.tensor(f"block{i}.relu2", (n, hh, ww, c))],
            tfl.BuiltinOptions.DepthwiseConv2DOptions,
            _dw_options(relu=True),
        )
        hh, ww = hh // 2, ww // 2
        pool = {"max": tfl.BuiltinOperator.MAX_POOL_2D, "avg": tfl.BuiltinOperator.AVERAGE_POOL_2D}
        pool_op = pool[bs.pool]
        h = g.op(
            pool_op,
            [h],
            [g.tensor(f"block{i}.pool", (n, hh, ww, c))],
            tfl.BuiltinOptions.Pool2DOptions,
            _pool_options(),
        )
        if i == spec.slow_after_block:
            for j, w in enumerate(weights.slow):
                k = w.shape[-1]
                zero_b = np.zeros((c,), np.float32)
                branches = []
                for tag, ww_ in (("pos", w), ("neg", -w)):
                    wt = g.tensor(
                        f"slow{j}.conv_{tag}.weight", (c, k, k, c), ww_.transpose(0, 2, 3, 1)
                    )
                    bt = g.tensor(f"slow{j}.conv_{tag}.bias", (c,), zero_b)
                    branches.append(
                        g.op(
                            tfl.BuiltinOperator.CONV_2D,
                            [h, wt, bt],
                            [g.tensor(f"slow{j}.conv_{tag}", (n, hh, ww, c))],
                            tfl.BuiltinOptions.Conv2DOptions,
                            _conv_options(),
                        )
                    )
                z = g.op(
                    tfl.BuiltinOperator.ADD,
                    branches,
                    [g.tensor(f"slow{j}.zero", (n, hh, ww, c))],
                    tfl.BuiltinOptions.AddOptions,
                    tfl.AddOptionsT(),
                )
                h = g.op(
                    tfl.BuiltinOperator.ADD,
                    [h, z],
                    [g.tensor(f"slow{j}.out", (n, hh, ww, c))],
                    tfl.BuiltinOptions.AddOptions,
                    tfl.AddOptionsT(),
                )
    c = spec.blocks[-1].out_channels
    axes = g.tensor("head.gap.axes", (2,), np.array([1, 2], np.int32))
    mean_opts = tfl.ReducerOptionsT()
    mean_opts.keepDims = False
    h = g.op(
        tfl.BuiltinOperator.MEAN,
        [h, axes],
        [g.tensor("head.gap", (n, c))],
        tfl.BuiltinOptions.ReducerOptions,
        mean_opts,
    )
    fc_w = g.tensor("head.fc.weight", weights.fc_w.shape, weights.fc_w)
    fc_b = g.tensor("head.fc.bias", weights.fc_b.shape, weights.fc_b)
    out = g.op(
        tfl.BuiltinOperator.FULLY_CONNECTED,
        [h, fc_w, fc_b],
        [g.tensor(output_name, (n, spec.num_classes))],
        tfl.BuiltinOptions.FullyConnectedOptions,
        tfl.FullyConnectedOptionsT(),
    )

    sub = tfl.SubGraphT()
    sub.tensors, sub.operators, sub.name = g.tensors, g.ops, "main"
    sub.inputs, sub.outputs = [x], [out]

    signature = tfl.SignatureDefT()
    signature.signatureKey = "serving_default"
    signature.subgraphIndex = 0
    signature.inputs = [_tensor_map(input_name, x)]
    signature.outputs = [_tensor_map(output_name, out)]

    model = tfl.ModelT()
    model.version = SCHEMA_VERSION
    model.description = DESCRIPTION
    model.operatorCodes = [_opcode(code) for code in g.opcodes]
    model.subgraphs = [sub]
    model.buffers = g.buffers
    model.signatureDefs = [signature]

    builder = flatbuffers.Builder(1 << 16)
    builder.Finish(model.Pack(builder), file_identifier=FILE_IDENTIFIER)
    return bytes(builder.Output())


def _tensor_map(name: str, index: int) -> tfl.TensorMapT:
    m = tfl.TensorMapT()
    m.name, m.tensorIndex = name, index
    return m


def _opcode(code: int) -> tfl.OperatorCodeT:
    oc = tfl.OperatorCodeT()
    oc.builtinCode = code
    # Readers before schema v3a look only at the int8 field; codes above 127 use the
    # placeholder there. Version 1 of each op is the plain float kernel.
    oc.deprecatedBuiltinCode = min(code, tfl.BuiltinOperator.PLACEHOLDER_FOR_GREATER_OP_CODES)
    oc.version = 1
    return oc
