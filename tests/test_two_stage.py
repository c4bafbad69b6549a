"""The served order's candidate step (models.two_stage): searching the index for a batch's unseen items."""

import numpy as np

from models.selection import SeenItems
from models.two_stage import SEARCH_MARGIN, ItemSources, Mix, TwoStage, Users, exact_search

N_ITEMS, CANDIDATES = 60, 5


def _order(seen_lists: list[list[int]], searches: list[tuple[int, int]]) -> TwoStage:
    """Item i's embedding is i, user queries are 1: the nearest neighbours are the highest rows."""
    embeddings = np.arange(N_ITEMS, dtype=np.float32)[:, np.newaxis]
    search = exact_search(embeddings)

    def recorded(queries: np.ndarray, n: int) -> np.ndarray:
        searches.append((len(queries), n))
        return search(queries, n)

    users = Users(np.ones((len(seen_lists), 1), np.float32), lambda rows, items: np.zeros(items.shape),
                  SeenItems.from_lists([np.array(seen, np.int64) for seen in seen_lists], N_ITEMS,
                                       mask_max_cells=0))
    return TwoStage(ItemSources(embeddings, recorded), users, popular_rows=np.arange(N_ITEMS), mix=Mix(),
                    temperature=1.0, candidates=CANDIDATES)


def test_only_rows_short_of_unseen_neighbours_search_again_for_all_they_may_need():
    searches: list[tuple[int, int]] = []
    heavy = list(range(N_ITEMS - 1, N_ITEMS - 21, -1))  # the 20 nearest items, all seen
    order = _order([[], heavy, [N_ITEMS - 2]], searches)
    ranked = order.recommend(np.array([0, 1, 2]), [3, 3, 3])
    # One search of the batch for SEARCH_MARGIN x candidates, then the heavy user alone for 5 + 20.
    assert searches == [(3, SEARCH_MARGIN * CANDIDATES), (1, CANDIDATES + 20)]
    assert ranked.rows.tolist() == [[59, 58, 57], [39, 38, 37], [59, 57, 56]]
    assert ranked.lengths.tolist() == [3, 3, 3]


def test_a_user_who_has_seen_nearly_everything_gets_what_is_left_then_padding():
    searches: list[tuple[int, int]] = []
    order = _order([list(range(1, N_ITEMS))], searches)  # only item 0 is unseen
    ranked = order.recommend(np.array([0]), [3])
    assert searches == [(1, SEARCH_MARGIN * CANDIDATES), (1, N_ITEMS)]
    assert ranked.lengths.tolist() == [1] and ranked.rows[0, :1].tolist() == [0]
