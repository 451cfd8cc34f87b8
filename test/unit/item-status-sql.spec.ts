import { sqlItemStatusIn } from '../../lib/processing/statements/statement';
import { ITEM_STATUS } from '../../lib/statuses';

describe('sqlItemStatusIn: a status list the planner can read from the partial indexes', () => {
  it('names pending alone, as the predicate of the index of pending rows', () => {
    expect(sqlItemStatusIn('"status"', [ITEM_STATUS.pending])).toBe(`"status" = 'pending'`);
  });

  it('puts the other statuses in one IN, as the index of rows neither pending nor completed holds them', () => {
    expect(sqlItemStatusIn('i."status"', [ITEM_STATUS.failed, ITEM_STATUS.skipped])).toBe(
      `i."status" IN ('failed', 'skipped')`,
    );
  });

  it('keeps pending an arm of its own beside the others', () => {
    expect(
      sqlItemStatusIn('"status"', [
        ITEM_STATUS.processing,
        ITEM_STATUS.pending,
        ITEM_STATUS.failed,
      ]),
    ).toBe(`("status" = 'pending' OR "status" IN ('processing', 'failed'))`);
  });

  it('matches nothing for no status, rather than writing invalid SQL', () => {
    expect(sqlItemStatusIn('"status"', [])).toBe('false');
  });

  it('refuses a word that is not a fixed status (values from outside are parameters)', () => {
    expect(() => sqlItemStatusIn('"status"', ["x' OR '1"])).toThrow();
  });
});
