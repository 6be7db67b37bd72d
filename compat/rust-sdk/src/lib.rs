//! Empty library: this package only carries the tests in `tests/`.
