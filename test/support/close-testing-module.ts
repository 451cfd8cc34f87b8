import type { TestingModule } from '@nestjs/testing';
import { getDataSourceToken } from '@nestjs/typeorm';
import type { DataSource } from 'typeorm';

/**
 * Closes a testing module, whether its `init()` succeeded or not. After a failed start Nest 12's `close()`
 * runs the shutdown hooks, which destroy the DataSource; Nest 11's rethrows the start's error and runs
 * none, so the DataSource (opened when the module compiled) is destroyed here, and that error swallowed:
 * its caller has it already.
 */
export async function closeTestingModule(moduleRef: TestingModule): Promise<void> {
  try {
    await moduleRef.close();
  } catch (error) {
    const dataSource = moduleRef.get<DataSource>(getDataSourceToken());
    if (!dataSource.isInitialized) throw error;
    await dataSource.destroy();
  }
}
