//! Runs `examples/embed.rs` as part of the test suite, so the documented embedding
//! example cannot rot.

#[path = "../examples/embed.rs"]
mod embed;

#[test]
fn embedding_example_runs() {
    embed::main().expect("the embedding example must succeed");
}
