import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import { AppModule } from './app.module';
import { databaseLabel } from './database';

async function bootstrap(): Promise<void> {
  const app = await NestFactory.create(AppModule.forDatabase());
  app.enableShutdownHooks();
  const port = Number(process.env.PORT ?? 3000);
  await app.listen(port);
  console.log(`Sample app on http://localhost:${port} (database: ${databaseLabel()})`);
  console.log(`Admin page on http://localhost:${port}/admin/ (from this machine only)`);
}

void bootstrap();
