import { batchTypeFromClassName, isValidBatchType } from '../../lib/utils/batch-type-name.util';

describe('batchTypeFromClassName', () => {
  it.each([
    ['CustomerDataProcessor', 'customer_data'],
    ['TransactionFeedProcessor', 'transaction_feed'],
    ['CSVFeedProcessor', 'csv_feed'],
    ['CustomerCSVProcessor', 'customer_csv'],
    ['XMLHttpRequestProcessor', 'xml_http_request'],
    ['LedgerEntryProcessor', 'ledger_entry'],
    ['CustomerProcessor', 'customer'],
    ['S3InvoiceProcessor', 's3_invoice'],
    ['Customer2FeedProcessor', 'customer2_feed'],
    ['customerDataProcessor', 'customer_data'],
    ['Customer_DataProcessor', 'customer_data'],
    ['Customer$DataProcessor', 'customer_data'],
    ['ProcessorProcessor', 'processor'],
    ['CustomerProcessorFactory', 'customer_processor_factory'],
    ['Customers', 'customers'],
  ])('%s handles "%s"', (className, batchType) => {
    expect(batchTypeFromClassName(className)).toBe(batchType);
  });

  it.each(['Processor', '', '_Processor', '$$Processor'])(
    'derives no batch type from %j',
    (className) => {
      expect(batchTypeFromClassName(className)).toBeNull();
    },
  );

  it('only drops a trailing "Processor"', () => {
    expect(batchTypeFromClassName('ProcessorOfOrders')).toBe('processor_of_orders');
  });

  it('always derives a batch type that isValidBatchType accepts', () => {
    for (const name of ['CustomerDataProcessor', 'CSVFeedProcessor', 'Customer$DataProcessor']) {
      expect(isValidBatchType(batchTypeFromClassName(name)!)).toBe(true);
    }
  });
});

describe('isValidBatchType', () => {
  it.each(['customer_data', 'csv-feed', 'crm.contacts', 'erp:v2:orders', 'A', 'x'.repeat(100)])(
    'accepts %j',
    (batchType) => {
      expect(isValidBatchType(batchType)).toBe(true);
    },
  );

  it.each([
    ['an empty string', ''],
    ['a space', 'customer data'],
    ['a slash', 'customers/2024'],
    ['a quote', "o'brien"],
    ['a newline', 'customers\n'],
    ['a non-ASCII letter', 'clientes_año'],
    ['101 characters', 'x'.repeat(101)],
  ])('refuses %s', (_label, batchType) => {
    expect(isValidBatchType(batchType)).toBe(false);
  });
});
