import type { Circus } from '@jest/types';
import { TestEnvironment } from 'jest-environment-node';

/** The Node environment, telling each test file whether one of its tests failed (`__TEST_FAILED__`). */
export default class ReliableImportsTestEnvironment extends TestEnvironment {
  handleTestEvent(event: Circus.Event): void {
    if (event.name === 'test_fn_failure' || event.name === 'hook_failure') {
      this.global.__TEST_FAILED__ = true;
    }
  }
}
