"""A pytest plugin for the nbval re-run of executed chapters (``-p tests.book.nbval_history``).

nbval 0.11 sends each cell with ``store_history=False``; IPython then decides whether a trailing ``;`` suppresses
the cell's result by reading the *history*, which that cell never entered, so every figure cell ending in ``;``
(as the chapters' do, and as Jupyter users write them) shows its figure a second time and differs from the
executed copy. Here cells are sent as Jupyter and papermill send them: with ``store_history=True``.
"""

import nbval.kernel


def _execute_cell_input(self, cell_input, allow_stdin=None):
    return self.kc.execute(cell_input, store_history=True, allow_stdin=allow_stdin, stop_on_error=False)


nbval.kernel.RunningKernel.execute_cell_input = _execute_cell_input
