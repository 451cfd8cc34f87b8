import { claimSize, largestClaimSize } from '../../lib/processing/run-options';

describe('claimSize', () => {
  it('claims 25 rows per row until the pace is known, and for rows too slow for more', () => {
    expect(claimSize(10_000, 1, 1)).toBe(25);
    expect(claimSize(10_000, 1, 1, 10)).toBe(25);
    expect(claimSize(10_000, 4, 1, 99)).toBe(25);
  });

  it('claims what a lane runs in a quarter of a second when rows are fast, at most 100', () => {
    expect(claimSize(10_000, 1, 1, 200)).toBe(50);
    expect(claimSize(10_000, 1, 1, 1000)).toBe(100);
    expect(claimSize(10_000, 4, 1, 100_000)).toBe(100);
    expect(largestClaimSize(10_000, 1, 1)).toBe(100);
  });

  it('still spreads a small batch over the lanes, however fast its rows', () => {
    expect(claimSize(400, 4, 1, 10_000)).toBe(25);
    expect(claimSize(40, 4, 1, 10_000)).toBe(3);
    expect(largestClaimSize(40, 4, 1)).toBe(3);
  });

  it('leaves chunked claims as they were: whole chunks, up to 4, within a quarter of a share', () => {
    expect(claimSize(4000, 1, 100, 10_000)).toBe(400);
    expect(claimSize(4000, 4, 100, 10_000)).toBe(200);
    expect(largestClaimSize(4000, 4, 100)).toBe(200);
  });
});
