import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Rng } from '../../ml/random';
import { STREAM } from '../../simulator/streams';

function moments(draw: () => number, n: number): { mean: number; variance: number } {
  let sum = 0;
  let squares = 0;
  for (let i = 0; i < n; i++) {
    const x = draw();
    sum += x;
    squares += x * x;
  }
  const mean = sum / n;
  return { mean, variance: squares / n - mean * mean };
}

describe('simulator rng', () => {
  it('repeats a stream for the same key and differs for another key', () => {
    const draw = (key: number[]) => {
      const rng = new Rng(key);
      return Array.from({ length: 8 }, () => rng.nextUint32());
    };
    assert.deepEqual(draw([0, STREAM.customerTransactions, 5]), draw([0, STREAM.customerTransactions, 5]));
    assert.notDeepEqual(draw([0, STREAM.customerTransactions, 5]), draw([0, STREAM.customerTransactions, 6]));
    assert.notDeepEqual(draw([0, STREAM.customerTransactions, 5]), draw([1, STREAM.customerTransactions, 5]));
    assert.notDeepEqual(draw([0, STREAM.customerTransactions, 5]), draw([0, STREAM.customerProfile, 5]));
    assert.notDeepEqual(draw([2 ** 32, 1, 0]), draw([0, 1, 0]));
  });

  it('draws uniforms in [0, 1) and integers in [0, n) with the right moments', () => {
    const rng = new Rng([1, 1, 1]);
    const u = moments(() => {
      const x = rng.uniform();
      assert.ok(x >= 0 && x < 1);
      return x;
    }, 200_000);
    assert.ok(Math.abs(u.mean - 0.5) < 0.005);
    assert.ok(Math.abs(u.variance - 1 / 12) < 0.002);
    const seen = new Set<number>();
    for (let i = 0; i < 10_000; i++) {
      const k = rng.uniformInt(7);
      assert.ok(Number.isInteger(k) && k >= 0 && k < 7);
      seen.add(k);
    }
    assert.equal(seen.size, 7);
  });

  it('draws normals with the requested mean and standard deviation', () => {
    const rng = new Rng([2, 2, 2]);
    const { mean, variance } = moments(() => rng.normal(43200, 20000), 200_000);
    assert.ok(Math.abs(mean - 43200) < 200, `mean ${mean}`);
    assert.ok(Math.abs(Math.sqrt(variance) - 20000) < 200, `std ${Math.sqrt(variance)}`);
  });

  it('draws Poisson counts with mean and variance lambda (both methods)', () => {
    const rng = new Rng([3, 3, 3]);
    for (const lambda of [0.3, 2, 3.9, 12, 80]) {
      const { mean, variance } = moments(() => {
        const k = rng.poisson(lambda);
        assert.ok(Number.isInteger(k) && k >= 0);
        return k;
      }, 100_000);
      assert.ok(Math.abs(mean - lambda) < 0.02 * lambda + 0.01, `lambda ${lambda}: mean ${mean}`);
      assert.ok(Math.abs(variance - lambda) < 0.05 * lambda + 0.01, `lambda ${lambda}: variance ${variance}`);
    }
    assert.equal(rng.poisson(0), 0);
  });

  it('draws distinct integers and uniform samples without replacement', () => {
    const rng = new Rng([4, 4, 4]);
    for (let i = 0; i < 1000; i++) {
      const picked = rng.distinctInts(5, 3);
      assert.equal(new Set(picked).size, 3);
      assert.ok(picked.every((k) => k >= 0 && k < 5));
    }
    assert.throws(() => rng.distinctInts(2, 3), RangeError);
    const counts = new Array<number>(6).fill(0);
    for (let i = 0; i < 30_000; i++) {
      const items = [0, 1, 2, 3, 4, 5];
      rng.sampleInPlace(items, 2);
      assert.notEqual(items[0], items[1]);
      counts[items[0]]++;
      counts[items[1]]++;
    }
    for (const count of counts) assert.ok(Math.abs(count - 10_000) < 400, `counts ${counts}`);
  });
});
