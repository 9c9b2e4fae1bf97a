"""What the tests and the benchmarks share, and the product never imports: constant training batches and
the like. Both may import it; neither imports the other."""
