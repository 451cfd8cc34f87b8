import type { LoggerService, Provider } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { BaseProcessor, ImportProcessor } from '../../lib';
import { moduleImports } from '../fixtures/test-app';
import { useTestDatabase } from '../support/use-test-app';

@ImportProcessor()
class CustomerDataProcessor extends BaseProcessor<object> {
  processItem(): void {}
}

@ImportProcessor('orders')
class OrderProcessor extends BaseProcessor<object> {
  processItem(): void {}
}

/** Keeps what the module logs, by level. */
class CapturingLogger implements LoggerService {
  readonly lines: Array<{ level: string; message: string; context?: string }> = [];
  log(message: unknown, context?: string): void {
    this.lines.push({ level: 'log', message: String(message), context });
  }
  warn(message: unknown, context?: string): void {
    this.lines.push({ level: 'warn', message: String(message), context });
  }
  error(message: unknown): void {
    this.lines.push({ level: 'error', message: String(message) });
  }
}

describe('the startup log line', () => {
  const database = useTestDatabase();

  async function startupLines(providers: Provider[]) {
    const logger = new CapturingLogger();
    const moduleRef = await Test.createTestingModule({
      imports: moduleImports(database.db.url),
      providers,
    })
      .setLogger(logger)
      .compile();
    await moduleRef.init();
    await moduleRef.close();
    return logger.lines.filter((line) => line.message.startsWith('Reliable imports:'));
  }

  it('lists the batch types and their processor classes, once', async () => {
    expect(await startupLines([OrderProcessor, CustomerDataProcessor])).toEqual([
      {
        level: 'log',
        context: 'ReliableImports',
        message:
          'Reliable imports: 2 batch types: customer_data (CustomerDataProcessor), orders (OrderProcessor)',
      },
    ]);
  });

  it('warns when no processor is registered, and says what to do', async () => {
    const lines = await startupLines([]);
    expect(lines).toEqual([
      {
        level: 'warn',
        context: 'ReliableImports',
        message: expect.stringContaining('no batch type is registered'),
      },
    ]);
    expect(lines[0].message).toContain('@ImportProcessor()');
    expect(lines[0].message).toContain('providers');
  });
});
