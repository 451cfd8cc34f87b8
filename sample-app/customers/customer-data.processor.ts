import {
  BaseProcessor,
  ImportProcessor,
  type ImportContext,
  type ImportItem,
} from 'nestjs-reliable-imports';
import { Customer } from './customer.entity';

/** A row of customers.csv. */
export interface CustomerRow {
  email?: string;
  first_name?: string;
  last_name?: string;
  company?: string;
  country?: string;
}

const EMAIL = /^[^@\s]+@[^@\s]+\.[^@\s]+$/;

@ImportProcessor() // handles the batch type 'customer_data'
export class CustomerDataProcessor extends BaseProcessor<CustomerRow> {
  validateItem({ sourceData: row }: ImportItem<CustomerRow>) {
    const reasons: string[] = [];
    if (!row.email) reasons.push('email is missing');
    else if (!EMAIL.test(row.email)) reasons.push('email is malformed');
    if (!row.first_name) reasons.push('first_name is missing');
    if (!row.last_name) reasons.push('last_name is missing');
    return reasons;
  }

  async processItem({ sourceData: row }: ImportItem<CustomerRow>, ctx: ImportContext<CustomerRow>) {
    // ctx.manager is this item's transaction: the customer and the item's status commit together.
    const result = await ctx.manager.getRepository(Customer).upsert(
      {
        email: row.email!,
        firstName: row.first_name!,
        lastName: row.last_name!,
        company: row.company || null,
        country: row.country || null,
      },
      ['email'],
    );
    return { targetTable: 'customers', targetId: (result.identifiers[0] as { id: number }).id };
  }
}
