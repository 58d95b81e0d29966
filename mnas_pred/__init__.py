"""mnas-pred core: the search space, architecture strings, PyTorch builder, ONNX export, per-layer
features and the measurement store that every stage shares."""

from mnas_pred.arch import REFERENCES, Architecture, BlockConfig, parse_arch
from mnas_pred.errors import ArchitectureError, MnasPredError, SearchSpaceError
from mnas_pred.layers import LayerConfig, arch_layers, count
from mnas_pred.space import SearchSpace

__version__ = "0.1.0"

__all__ = [
    "REFERENCES", "Architecture", "ArchitectureError", "BlockConfig", "LayerConfig", "MnasPredError",
    "SearchSpace", "SearchSpaceError", "arch_layers", "count", "parse_arch", "__version__",
]
