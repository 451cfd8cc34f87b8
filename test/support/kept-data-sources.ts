import { DataSource, type DataSourceOptions } from 'typeorm';

/**
 * The DataSources a testing module opens through `dataSourceFactory`, kept so that a test can destroy
 * them after a start that failed: Nest leaves them open then. A start is refused (invalid options) while
 * a DataSource may still be connecting, so each is destroyed only once its connecting has settled.
 */
export class KeptDataSources {
  private readonly started: Array<Promise<DataSource>> = [];

  /** For `TypeOrmModule.forRootAsync({ dataSourceFactory })`. */
  readonly factory = (options?: DataSourceOptions): Promise<DataSource> => {
    const started = new DataSource(options!).initialize();
    this.started.push(started);
    return started;
  };

  /** Destroys every DataSource the factory made that is still initialized. */
  async destroy(): Promise<void> {
    for (const started of this.started.splice(0)) {
      const dataSource = await started.catch(() => null);
      if (dataSource?.isInitialized) await dataSource.destroy();
    }
  }
}
