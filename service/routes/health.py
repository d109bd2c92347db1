from fastapi import APIRouter

from service.state import State

router = APIRouter()


@router.get("/healthz", summary="200 once the library and models are loaded")
def healthz(state: State) -> dict:
    return {"status": "ok", "talks": state.library.count_talks(), "embed_model": state.searcher.embedder.name}
