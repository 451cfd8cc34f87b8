import * as fc from 'fast-check';
import { metaColumnNames, protectCell, unprotectCell } from '../../lib/readers/spreadsheet-cells';

describe('protectCell / unprotectCell', () => {
  it.each([
    ['=SUM(A1:A2)', "'=SUM(A1:A2)"],
    ['+33 6 12', "'+33 6 12"],
    ['@user', "'@user"],
    ['\tindented', "'\tindented"],
    ['\rx', "'\rx"],
    ['-cmd', "'-cmd"],
    ['-1+2', "'-1+2"],
    ['-2+3+cmd|x', "'-2+3+cmd|x"],
    ['-1.5.', "'-1.5."],
    ["'=already quoted", "''=already quoted"],
  ])('protects %j as %j', (text, written) => {
    expect(protectCell(text)).toBe(written);
    expect(unprotectCell(written)).toBe(text);
  });

  it.each(['-12.5', '-.5', '-3e5', '-7', '-', 'plain', '', "it's", "'quoted'", 'a=b'])(
    'leaves %j as it is',
    (text) => {
      expect(protectCell(text)).toBe(text);
      expect(unprotectCell(text)).toBe(text);
    },
  );

  it('gives back any text written with protectCell', () => {
    const risky = fc.constantFrom("'", '=', '+', '-', '@', '\t', '\r', '1', '.', 'a', ' ');
    const text = fc.oneof(
      fc.string(),
      fc.array(risky, { maxLength: 6 }).map((c) => c.join('')),
    );
    fc.assert(
      fc.property(text, (t) => {
        expect(unprotectCell(protectCell(t))).toBe(t);
        // What a spreadsheet would run is never written as it is.
        expect(protectCell(t)).not.toMatch(/^(?:[=+@\t\r]|-[^0-9.])/);
        // A cell that starts with "-" is written as it is only when it is a number (or "-" alone).
        if (protectCell(t).startsWith('-')) {
          expect(t).toMatch(/^-(?:$|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$)/);
        }
      }),
      { numRuns: 2000 },
    );
  });
});

describe('metaColumnNames', () => {
  it('is _item_id, _line, _status, _reason when no data column takes one of them', () => {
    expect(metaColumnNames(['email', 'item_id', 'line'])).toEqual({
      itemId: '_item_id',
      line: '_line',
      status: '_status',
      reason: '_reason',
    });
  });

  it('adds a leading _ to all four until none is a data column', () => {
    expect(metaColumnNames(['_line', 'email'])).toEqual({
      itemId: '__item_id',
      line: '__line',
      status: '__status',
      reason: '__reason',
    });
    expect(metaColumnNames(['_reason', '__item_id']).itemId).toBe('___item_id');
  });
});
