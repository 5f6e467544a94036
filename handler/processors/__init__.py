"""Processors, found by name in `PROCESSORS`; importing this package registers them all."""

from handler.processors.base import PROCESSORS, Processor, processor_from_spec, register
from handler.processors.masking import Entity, EntityMasker
from handler.processors.tabular import LabelEncoder, NumericScaler, OrdinalEncoder
from handler.processors.text import EmailReply, HtmlToText, Identity, RegexRules, UnicodeFix, Whitespace
from handler.processors.tokenization import Tokenization

__all__ = [
    "PROCESSORS", "Processor", "processor_from_spec", "register", "Entity", "EntityMasker",
    "LabelEncoder", "NumericScaler", "OrdinalEncoder", "EmailReply", "HtmlToText", "Identity",
    "RegexRules", "UnicodeFix", "Whitespace", "Tokenization",
]
