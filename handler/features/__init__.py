"""Features: the input schema, processors (found by name in `PROCESSORS`) and the pipeline; no torch.

Importing this package registers every processor.
"""

from handler.features.language import LanguageId
from handler.features.masking import Entity, EntityMasker
from handler.features.processor import PROCESSORS, Processor, processor_from_spec, register
from handler.features.tabular import LabelEncoder, NumericScaler, OrdinalEncoder
from handler.features.text import EmailReply, HtmlToText, Identity, RegexRules, UnicodeFix, Whitespace
from handler.features.tokenization import Tokenization

__all__ = [
    "PROCESSORS",
    "Processor",
    "processor_from_spec",
    "register",
    "Entity",
    "EntityMasker",
    "LanguageId",
    "LabelEncoder",
    "NumericScaler",
    "OrdinalEncoder",
    "EmailReply",
    "HtmlToText",
    "Identity",
    "RegexRules",
    "UnicodeFix",
    "Whitespace",
    "Tokenization",
]
