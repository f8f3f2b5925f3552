//! Property tests: random operation sequences keep every invariant.
