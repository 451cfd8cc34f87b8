import { retentionPolicies } from '../../lib/processing/retention-policies';

const NOW = new Date('2026-06-30T12:00:00.000Z');
const daysBefore = (days: number): Date => new Date(NOW.getTime() - days * 86_400_000);

describe('retentionPolicies', () => {
  it('applies nothing when no retention is configured', () => {
    expect(retentionPolicies(undefined, [{ batchType: 'orders' }], NOW)).toEqual([]);
    expect(retentionPolicies({ includeUnresolved: true }, [], NOW)).toEqual([]);
  });

  it("gives the module's policy every type but those with their own, and theirs over it key by key", () => {
    const policies = retentionPolicies(
      { completedDays: 30, failedDays: 90, logsDays: 14 },
      [
        { batchType: 'orders' },
        { batchType: 'leads', retention: { completedDays: 1, failedDays: undefined } },
      ],
      NOW,
    );
    expect(policies).toEqual([
      {
        batchTypes: null,
        excludedTypes: ['leads'],
        statuses: ['completed', 'failed'],
        cutoffs: [daysBefore(30), daysBefore(90)],
        includeUnresolved: false,
        logsCutoff: daysBefore(14),
      },
      {
        batchTypes: ['leads'],
        excludedTypes: [],
        statuses: ['completed', 'failed'],
        cutoffs: [daysBefore(1), daysBefore(90)],
        includeUnresolved: false,
        logsCutoff: daysBefore(14),
      },
    ]);
  });

  it("gives a processor's policy alone when the module has none", () => {
    expect(
      retentionPolicies(undefined, [{ batchType: 'leads', retention: { rejectedDays: 0 } }], NOW),
    ).toEqual([
      {
        batchTypes: ['leads'],
        excludedTypes: [],
        statuses: ['rejected'],
        cutoffs: [NOW],
        includeUnresolved: false,
        logsCutoff: null,
      },
    ]);
  });
});
