/**
 * The work every figure of the bench does, whoever does it (the module, the raw loops, pgbench): rows of a
 * customer import, about 500 bytes of JSON each, upserted into a table of 11 columns with a unique index
 * on email, `RETURNING id`, as a real import of customers would.
 */

/** One source row: the 11 columns of `bench_customers`, as a wide CSV line would give them. */
export interface Row {
  email: string;
  first_name: string;
  last_name: string;
  company: string;
  phone: string;
  street: string;
  city: string;
  postal_code: string;
  country: string;
  birth_date: string;
  notes: string;
}

/** The columns of the upsert, in the order of its parameters. */
export const COLUMNS: ReadonlyArray<keyof Row> = [
  'email',
  'first_name',
  'last_name',
  'company',
  'phone',
  'street',
  'city',
  'postal_code',
  'country',
  'birth_date',
  'notes',
];

/** About 500 bytes of JSON per row (checked at startup by `rowBytes`). */
export const row = (i: number): Row => ({
  email: `customer${i}@example.com`,
  first_name: `First${i}`,
  last_name: `Last${i}`,
  company: `Company ${i % 97} GmbH & Co. KG`,
  phone: `+49 30 ${String(1_000_000 + i).padStart(8, '0')}`,
  street: `${(i % 200) + 1} Long Example Street, Building ${i % 7}`,
  city: `City ${i % 301}`,
  postal_code: String(10_000 + (i % 89_999)),
  country: 'DE',
  birth_date: `19${50 + (i % 50)}-0${(i % 9) + 1}-1${i % 10}`,
  notes: 'n'.repeat(240),
});

/** The size of a row as JSON, the way it is stored in `source_data`. */
export const rowBytes = (): number => Buffer.byteLength(JSON.stringify(row(123_456)));

/** Like a file stream: rows arrive asynchronously, a chunk at a time. */
export async function* rows(count: number): AsyncGenerator<Row> {
  for (let i = 0; i < count; i++) {
    if (i % 1000 === 0) await new Promise((resolve) => setImmediate(resolve));
    yield row(i);
  }
}

/** The table the processing figures write to. */
export const CREATE_CUSTOMERS = `CREATE TABLE bench_customers (
  id bigserial PRIMARY KEY,
  ${COLUMNS.map((column) => `${column} ${column === 'birth_date' ? 'date' : 'text'}${column === 'email' ? ' NOT NULL' : ''}`).join(',\n  ')},
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX bench_customers_email ON bench_customers (email);`;

/** The upsert of one row: what a processor of customers does, and what each baseline does per row. */
export const UPSERT =
  `INSERT INTO bench_customers (${COLUMNS.join(', ')}) ` +
  `VALUES (${COLUMNS.map((_, i) => `$${i + 1}`).join(', ')}) ` +
  `ON CONFLICT (email) DO UPDATE SET ${COLUMNS.filter((c) => c !== 'email')
    .map((c) => `${c} = EXCLUDED.${c}`)
    .join(', ')}, updated_at = now() RETURNING id`;

/** The parameters of `UPSERT` for a row. */
export const upsertValues = (r: Row): unknown[] => COLUMNS.map((column) => r[column]);
