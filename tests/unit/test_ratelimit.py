"""Token buckets on a simulated clock."""

from bacrouter.net.ratelimit import KeyedLimit, TokenBucket


def test_bucket_allows_a_burst_then_its_rate():
    bucket = TokenBucket(rate=2.0, burst=5)
    assert sum(bucket.allow(0.0) for _ in range(100)) == 5
    assert sum(bucket.allow(t / 100) for t in range(1, 1001)) == 20  # 10 s at 2/s
    assert bucket.allow(100.0) and bucket.tokens == 4  # never more than the burst saved up


def test_keyed_limit_holds_each_source_and_all_together():
    limit = KeyedLimit(rate=1.0, burst=3, total_rate=10.0, total_burst=10)
    assert [limit.allow("a", 0.0) for _ in range(4)] == [None, None, None, "source"]
    results = [limit.allow(f"s{i}", 0.0) for i in range(20)]
    assert results.count(None) == 7 and results.count("total") == 13
    assert limit.allow("b", 1.0) is None  # a second later the total has refilled


def test_made_up_sources_do_not_grow_the_table():
    limit = KeyedLimit(rate=1.0, burst=3, total_rate=1e9, total_burst=1e9, max_keys=100)
    for i in range(100_000):
        limit.allow(i, i / 1000)
    assert len(limit.buckets) <= 100
