"""Inference backends for the network pass: eager PyTorch (the reference) or OpenVINO.

A :class:`Runner` holds one model's hide (``encode``) and reveal (``decode``) passes for one backend and precision;
:func:`runner` builds it once and caches it. Both passes take and return N×3×H×W float tensors in [0, 1] (a keyed
model's passes take the key's signs as a last argument), so callers such as ``core.hide_tensor`` cut tiles the same
way whatever runs the networks; asked for images on the 8-bit grid (``grid``), every backend rounds as
:func:`~deepstego.images.on_8bit_grid` does, OpenVINO inside its compiled graph (which then gives 8-bit levels; in
bf16 the last layer's output reaches that rounding in fp32, where PyTorch's autocast rounds it to bf16 first, so a
level may differ). Refinement needs gradients and always runs in PyTorch.

OpenVINO is an optional extra (``pip install 'deepstego[openvino]'``). Its models are traced from the PyTorch modules
(a model's :meth:`~deepstego.models.base.StegoModel.inference_graph`: for a keyless dsnet the same passes as a graph
of convolutions alone, :class:`deepstego.models.dsnet.Folded`), take and give images channels-last, and are compiled
for each input shape (0.2 to 0.5 s a pass), then kept. In one run on this project's Sapphire Rapids CPU (2 cores,
``tools/backend_speed.py``, dsnet-v4, five calls each) 720p hide + reveal ran at 26.6 pairs/s in OpenVINO bf16
against 6.7 in PyTorch bf16 (17.4 with the model's own, unfolded graph), and 6.8 against 5.2 in fp32; a 256² pair
ran at 116 against 90 in bf16 (single timings on that shared machine swing by a third).
So ``auto`` takes OpenVINO, where it is installed, for videos (one compilation per frame size serves every frame)
and PyTorch for single images, where the compilation costs more than it saves. In fp32 OpenVINO gives PyTorch's
stego and reveal within one 8-bit level (float rounding: the folded graph sums in another order); in bf16 the stego
is within one or two levels, and the reveal within a few (mean 0.25), because OpenVINO runs the reveal network's
first layer in bf16 where PyTorch keeps it in fp32.
"""

from __future__ import annotations

import sys
import weakref
from collections import OrderedDict
from typing import TYPE_CHECKING

from .errors import DeepStegoError
from .precision import autocast, resolve_precision

if TYPE_CHECKING:
    import torch
# torch is imported where it is used: the command line reads BACKENDS before it starts any work

BACKENDS = ("auto", "torch", "openvino")
IMAGES = {"encode": 2, "decode": 1}  # image inputs of each pass (cover and secret; stego), before a key's signs
INSTALL_HINT = "the OpenVINO backend needs the openvino extra: pip install 'deepstego[openvino]'"


def openvino_installed() -> bool:
    try:
        _openvino()
    except ImportError:
        return False
    return True


def _openvino():
    """``openvino``, imported so that it sends nothing. Its model converter reports usage to Google Analytics
    through ``openvino_telemetry`` (one of openvino's own requirements) unless the user has opted out, from a
    forked process; such a fork, made while another thread held a lock in ``getaddrinfo``, left a reveal hanging at
    exit in this project's test suite. With that package's import blocked, the converter falls back on the stub it
    ships for when it is missing: deepstego makes no network request (``tests/test_backend.py``)."""
    sys.modules.setdefault("openvino_telemetry", None)  # None in sys.modules: `import openvino_telemetry` fails
    import openvino

    return openvino


def resolve_backend(backend: str = "auto", *, repeated: bool = False) -> str:
    """``auto`` → ``openvino`` for ``repeated`` work (a video's frames: one compilation per frame size serves them
    all) where it is installed, else ``torch`` (a single image: compiling costs about a second per size, more than it
    saves); a named backend that is missing is an error."""
    if backend not in BACKENDS:
        raise DeepStegoError(f"backend must be one of {', '.join(BACKENDS)}, not {backend!r}")
    if backend == "auto":
        return "openvino" if repeated and openvino_installed() else "torch"
    if backend == "openvino" and not openvino_installed():
        raise DeepStegoError(INSTALL_HINT)
    return backend


class Runner:
    """A model's network passes in eager PyTorch under the precision's autocast: the reference every backend
    matches."""

    name = "torch"

    def __init__(self, model, precision: str):
        self._model, self.precision = weakref.ref(model), resolve_precision(precision)

    @property
    def model(self):
        return self._model()

    def encode(self, cover: torch.Tensor, secret: torch.Tensor, *signs: torch.Tensor, grid: bool = False
               ) -> torch.Tensor:
        """The stego (``grid``: clamped and rounded to the 8-bit grid, :func:`~deepstego.images.on_8bit_grid`)."""
        return self._run("encode", (cover, secret, *signs), grid)

    def decode(self, stego: torch.Tensor, *signs: torch.Tensor, grid: bool = False) -> torch.Tensor:
        """The revealed secret (``grid``: as for :meth:`encode`)."""
        return self._run("decode", (stego, *signs), grid)

    def _run(self, name: str, inputs: tuple[torch.Tensor, ...], grid: bool) -> torch.Tensor:
        import torch

        from .images import on_8bit_grid

        with torch.inference_mode(), autocast(self.precision):
            out = getattr(self.model, name)(*inputs).float()
        return on_8bit_grid(out) if grid else out


class OpenVINORunner(Runner):
    """The same passes compiled by OpenVINO for the CPU (``bf16`` → ``INFERENCE_PRECISION_HINT=bf16``)."""

    name = "openvino"

    #: compiled (pass, shapes) kept per runner: a video needs one or two, the app a few sizes
    KEEP = 8

    def __init__(self, model, precision: str):
        super().__init__(model, precision)
        self._compiled: OrderedDict[tuple, object] = OrderedDict()

    def _convert(self, name: str, inputs: tuple[torch.Tensor, ...], free: bool = False, grid: bool = False):
        """One pass traced at ``inputs``' shapes and converted to an OpenVINO model (``free``: of any height and
        width; ``grid``: its output as 8-bit levels, clamped and rounded by the graph's last element-wise step,
        a quarter of the bytes to copy out and no pass of PyTorch over them but the division by 255)."""
        import torch

        ov = _openvino()

        graph = self.model.inference_graph()
        # a hide that adds a residual to the cover (dsnet.Folded) reads the cover a second time, as a last input,
        # for that addition: read once, it was transposed to NCHW for both uses and back to channels-last for one
        twice = name == "encode" and hasattr(graph, "residual")

        class Pass(torch.nn.Module):  # one pass as a module of tensors only, for tracing
            def __init__(self, model):
                super().__init__()
                self.model = model

            def forward(self, *xs):
                if twice:
                    out = xs[-1] + self.model.residual(*xs[:-1])
                else:
                    out = getattr(self.model, name)(*xs).float()
                return out.clamp(0, 1).mul(255).round().to(torch.uint8) if grid else out

        inputs = (*inputs, inputs[0]) if twice else inputs
        # static shapes: OpenVINO plans each size's memory and kernels ahead (faster than free shapes)
        shapes = [ov.PartialShape(list(x.shape[:2]) + [-1, -1] if free else list(x.shape)) for x in inputs]
        with torch.inference_mode(False), torch.no_grad():
            examples = tuple(x.detach().clone() for x in inputs)
            # the trace check re-runs the pass and compares graphs; cached constants (the key mixing matrix)
            # make the two graphs differ in name only, and the outputs are compared in the tests instead
            traced = torch.jit.trace(Pass(graph), examples, check_trace=False)
            converted = ov.convert_model(traced, input=shapes)
        # images in and out as channels-last arrays (what callers hold): OpenVINO's own convolutions want that
        # layout, so no copy is made to reach NCHW and back (a key's signs stay as they are)
        steps = ov.preprocess.PrePostProcessor(converted)
        for i in [*range(IMAGES[name]), *([len(inputs) - 1] if twice else [])]:
            steps.input(i).tensor().set_layout(ov.Layout("NHWC"))
            steps.input(i).model().set_layout(ov.Layout("NCHW"))
        steps.output(0).model().set_layout(ov.Layout("NCHW"))
        steps.output(0).postprocess().convert_layout(ov.Layout("NHWC"))
        return steps.build()

    def _compile(self, name: str, inputs: tuple[torch.Tensor, ...], grid: bool = False):
        key = (name, grid, *(tuple(x.shape) for x in inputs))
        if key in self._compiled:
            self._compiled.move_to_end(key)
        else:
            import torch

            hint = "bf16" if self.precision == "bf16" else "f32"
            self._compiled[key] = _openvino().Core().compile_model(self._convert(name, inputs, grid=grid), "CPU", {
                "INFERENCE_PRECISION_HINT": hint, "INFERENCE_NUM_THREADS": torch.get_num_threads()})
            while len(self._compiled) > self.KEEP:
                self._compiled.popitem(last=False)
        return self._compiled[key]

    def _run(self, name: str, inputs: tuple[torch.Tensor, ...], grid: bool) -> torch.Tensor:
        import torch

        compiled = self._compile(name, inputs, grid)
        out = compiled(arrays(name, inputs, compiled), share_inputs=True)[0]  # a fresh array; inputs read in place
        out = torch.from_numpy(out).permute(0, 3, 1, 2)
        return out.float().div_(255) if grid else out  # k / 255 exactly as on_8bit_grid gives it


def arrays(name: str, inputs: tuple[torch.Tensor, ...], graph) -> list:
    """The arrays ``graph`` (a converted or compiled pass) reads: its images channels-last (no copy where they are
    already), a key's signs as they are, and the cover again where the graph reads it twice."""
    out = [(x.float().permute(0, 2, 3, 1) if i < IMAGES[name] else x.float()).contiguous().numpy()
           for i, x in enumerate(inputs)]
    return out + out[:1] * (len(graph.inputs) - len(out))


_RUNNERS = {"torch": Runner, "openvino": OpenVINORunner}
# outside the model (deep copies and state dicts of a model never see a compiled network) and gone with it
_cache: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def runner(model, backend: str = "auto", precision: str = "auto", *, repeated: bool = False) -> Runner:
    """The runner of ``model``'s network passes on ``backend`` at ``precision``, built once and kept while the model
    lives (a compiled runner holds the weights as they were then). Models that are not networks (``lsb``) and models in
    training mode always run in PyTorch."""
    name = resolve_backend(backend, repeated=repeated) if model.trainable and not model.training else "torch"
    key = (name, resolve_precision(precision))
    runners = _cache.setdefault(model, {})
    if key not in runners:
        runners[key] = _RUNNERS[name](model, key[1])
    return runners[key]
