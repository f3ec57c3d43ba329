Console.Error.WriteLine("train: the trainer is not built yet.");
return 2;
