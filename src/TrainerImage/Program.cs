return Ferry.Trainer.TrainCommand.Run(args, Environment.GetEnvironmentVariable, Console.Out, Console.Error);
