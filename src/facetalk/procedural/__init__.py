"""Rule-based speech animation: visemes with coarticulation, emotions, blinks, brows and speaker styles."""

from facetalk.procedural.animator import ProceduralAnimator
from facetalk.procedural.persona import PERSONAS, Persona

__all__ = ["PERSONAS", "Persona", "ProceduralAnimator"]
