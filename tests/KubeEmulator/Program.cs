Console.Error.WriteLine("The Kubernetes API emulator is not built yet.");
return 2;
