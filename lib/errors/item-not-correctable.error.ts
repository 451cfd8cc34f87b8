import type { ImportItem } from '../interfaces/import-item.interface';
import { messages } from '../reliable-imports.messages';
import { ReliableImportsError } from './reliable-imports.error';

/**
 * `correctItem` was refused because no reprocess would use the correction: the item completed, its row
 * completed elsewhere in its tree, a batch of its tree is processing it, or a newer copy of it exists.
 * `context.batchId` names the batch that holds the row.
 */
export class ItemNotCorrectableError extends ReliableImportsError {
  constructor(
    itemId: string,
    itemIndex: number,
    status: string,
    message: string = messages.itemNotCorrectable(itemId, itemIndex, status),
    batchId?: string,
  ) {
    super('ITEM_NOT_CORRECTABLE', message, { itemId, itemIndex, batchId });
  }

  /** @internal */
  static applied(
    item: ImportItem<unknown>,
    copyId: string,
    batchId: string,
  ): ItemNotCorrectableError {
    return this.heldBy(
      item,
      batchId,
      messages.rowAlreadyApplied(item.id, item.itemIndex, copyId, batchId),
    );
  }

  /** @internal */
  static held(
    item: ImportItem<unknown>,
    copyId: string,
    batchId: string,
    batchStatus: string,
  ): ItemNotCorrectableError {
    return this.heldBy(
      item,
      batchId,
      messages.rowHeldByRun(item.id, item.itemIndex, copyId, batchId, batchStatus),
    );
  }

  /** @internal */
  static notNewest(
    item: ImportItem<unknown>,
    copyId: string,
    batchId: string,
  ): ItemNotCorrectableError {
    return this.heldBy(
      item,
      batchId,
      messages.notNewestCopy(item.id, item.itemIndex, copyId, batchId),
    );
  }

  private static heldBy(
    item: ImportItem<unknown>,
    batchId: string,
    message: string,
  ): ItemNotCorrectableError {
    return new ItemNotCorrectableError(item.id, item.itemIndex, item.status, message, batchId);
  }
}
